// `npm run bench`: prints comparison tables. Not a test: figures vary with the machine's load.
// Usage: node bench/run.js [status|startup ...]   (default: all)
import { benchAsk } from './ask.js';
import { benchAnthropic } from './anthropic.js';
import { benchServe } from './serve.js';
import { benchHung } from './hung.js';
import { benchCheck } from './check.js';
import { benchAppends, benchIncidentList, benchRecoverTime } from './recover.js';
import { benchStartup, benchStatus } from './status.js';
import { benchEvidence } from './evidence.js';
import { benchHistory } from './history.js';
import { benchPage } from './page.js';
import { benchOllama } from './ollama.js';
import { benchAffinity } from './affinity.js';
import { benchRedis } from './redis.js';
import { benchV8 } from './v8.js';

const suites = { startup: benchStartup, status: benchStatus, recover: benchRecoverTime, appends: benchAppends, incidents: benchIncidentList, check: benchCheck, ask: benchAsk, serve: benchServe, hung: benchHung, anthropic: benchAnthropic, ollama: benchOllama, affinity: benchAffinity, evidence: benchEvidence, history: benchHistory, page: benchPage, redis: benchRedis, v8: benchV8 };
const wanted = process.argv.slice(2);
for (const name of wanted.length ? wanted : Object.keys(suites)) {
  const suite = suites[name];
  if (!suite) {
    console.error(`unknown benchmark "${name}"; have: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
  await suite();
}
