/** `jarvis sim node|cluster|fault`: simulated nodes on loopback, with faults. */
import { collect, wholeNumber } from '../options.js';
import type { CliCommand } from '../table.js';
import type { SimReady } from '../../commands/sim.js';

/** The ready line: JSON in a pipe or with --json (what tests, the demo and scripts read), a summary for a person on a terminal. */
async function readyPrinter(json: boolean): Promise<(ready: SimReady) => void> {
  if (json || !process.stdout.isTTY) return (ready) => void process.stdout.write(`${JSON.stringify(ready)}\n`);
  const { renderSimReady } = await import('../../ui/sim.js');
  return (ready) => void process.stdout.write(`${renderSimReady(ready)}\n`);
}

const PREFILL_FLAG = { flags: '--prefill <ms>', description: 'ms to process 1,000 prompt tokens not already cached (time to first token grows with them; default 0)' };
const prefillOf = (v: string | undefined) => (v === undefined ? {} : { prefillMsPer1k: wholeNumber(v, '--prefill', 0, 600_000) });

const node: CliCommand<{ kind: string; id?: string; port: string; host: string; model?: string[]; fault?: string; controlPort: string; exitWithParent?: boolean; prefill?: string }> = {
  name: 'node',
  description: 'run one simulated node until stopped; says so when ready (one JSON line in a pipe or with --json)',
  examples: ["jarvis sim node --kind ollama --port 11434 --model qwen3:8b"],
  flags: [
    { flags: '-k, --kind <kind>', description: 'ollama | lmstudio | openai', required: true },
    { flags: '--id <id>', description: 'node id (default: the kind)' },
    { flags: '-p, --port <port>', description: 'port (0 = any free port)', default: '0' },
    { flags: '--host <addr>', description: 'address to bind', default: '127.0.0.1' },
    { flags: '-m, --model <name>', description: 'a model it serves (repeat or comma-separate; the first is the configured one)', repeat: collect },
    { flags: '--fault <fault>', description: 'start in this fault mode' },
    { flags: '--control-port <port>', description: 'control server port (0 = any)', default: '0' },
    { flags: '--exit-with-parent', description: 'exit when the parent process dies' },
    PREFILL_FLAG,
  ],
  run: async ({ opts, proc, globals }) => {
    const { runSim, singleNodeSpec } = await import('../../commands/sim.js');
    const spec = singleNodeSpec({ kind: opts.kind, port: opts.port, ...(opts.id && { id: opts.id }), ...(opts.model && { model: opts.model }), ...(opts.fault && { fault: opts.fault }), ...prefillOf(opts.prefill) });
    await runSim({ specs: [spec], host: opts.host, controlPort: wholeNumber(opts.controlPort, '--control-port', 0, 65535), exitWithParent: Boolean(opts.exitWithParent), onReady: await readyPrinter(Boolean(globals.json)), signal: proc.signal });
  },
};

const cluster: CliCommand<{ preset: string; spec?: string; fault?: string[]; omit?: string[]; host: string; configOut?: string; timeout?: string; controlPort: string; exitWithParent?: boolean; prefill?: string }> = {
  name: 'cluster',
  description: 'run a simulated cluster (the runbook preset by default) until stopped',
  examples: ["jarvis sim cluster --config-out /tmp/sim.yaml", "jarvis sim cluster --fault m2=hang --omit m1"],
  flags: [
    { flags: '--preset <name>', description: '"runbook" (six nodes) or a node count', default: 'runbook' },
    { flags: '--spec <file>', description: 'YAML/JSON {nodes: [{id, kind, models, fault?, port?}]}' },
    { flags: '--fault <id=fault>', description: 'start a node in a fault mode (repeatable)', repeat: collect },
    { flags: '--omit <id>', description: 'leave a node out: its port stays closed (repeatable)', repeat: collect },
    { flags: '--host <addr>', description: 'address to bind', default: '127.0.0.1' },
    { flags: '--config-out <file>', description: 'write a jarvis config for the cluster here' },
    { flags: '--timeout <ms>', description: 'timeoutMs written in that config' },
    { flags: '--control-port <port>', description: 'control server port (0 = any)', default: '0' },
    { flags: '--exit-with-parent', description: 'exit when the parent process dies' },
    PREFILL_FLAG,
  ],
  run: async ({ opts, proc, globals }) => {
    const { runSim, resolveSpecs } = await import('../../commands/sim.js');
    const specs = await resolveSpecs({ preset: opts.preset, ...(opts.spec && { spec: opts.spec }), ...(opts.fault && { faults: opts.fault }), ...(opts.omit && { omit: opts.omit }), ...prefillOf(opts.prefill) });
    await runSim({
      specs,
      host: opts.host,
      controlPort: wholeNumber(opts.controlPort, '--control-port', 0, 65535),
      ...(opts.configOut && { configOut: opts.configOut }),
      ...(opts.timeout && { timeoutMs: wholeNumber(opts.timeout, '--timeout', 1, 600_000) }),
      exitWithParent: Boolean(opts.exitWithParent),
      onReady: await readyPrinter(Boolean(globals.json)),
      signal: proc.signal,
    });
  },
};

const fault: CliCommand = {
  name: 'fault',
  description: 'switch a running sim node to a fault: up, down, hang, 500, 502, loading, slow:MS, 429[:S], garbage, html, model-missing, reset, cut',
  examples: ["jarvis sim fault http://127.0.0.1:PORT m2 hang", "jarvis sim fault http://127.0.0.1:PORT m2 up"],
  args: [
    { name: '<control-url>', description: 'the control URL the sim printed when ready' },
    { name: '<node>', description: 'node id' },
    { name: '<fault>', description: 'fault mode' },
  ],
  run: async ({ args }) => {
    const [controlUrl, nodeId, mode] = args as [string, string, string];
    const { sendFault } = await import('../../commands/sim.js');
    process.stdout.write(`${await sendFault(controlUrl, nodeId, mode)}\n`);
  },
};

export const sim: CliCommand = {
  name: 'sim',
  description: 'simulated Ollama / LM Studio / OpenAI-style nodes on loopback, with faults',
  examples: ["jarvis sim cluster --config-out /tmp/sim.yaml", "jarvis status --config /tmp/sim.yaml"],
  subcommands: [node, cluster, fault],
};
