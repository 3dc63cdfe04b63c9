// What the evidence costs (issue 18): `jarvis status` with and without -v on six healthy nodes,
// and `jarvis diagnose` of a hung node whose GPU tool hangs too: the collectors run beside the
// probe, so the command takes the longer of the two timeouts, not their sum. The stand-in
// nvidia-smi (test/fixtures/bin) answers like a busy RTX 4090, or hangs.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, fmt, median, printTable, startCluster, tempDir, timed } from './lib.js';

const PROBE_TIMEOUT_MS = 3000;
const EVIDENCE_TIMEOUT_MS = 2000;

export async function benchEvidence({ runs = 5 } = {}) {
  const { dir, cleanup } = tempDir();
  const PATH = `${path.join(ROOT, 'test', 'fixtures', 'bin')}:${process.env.PATH}`;
  const rows = [];
  try {
    const nodes = ['ollama', 'lmstudio', 'openai'].flatMap((kind, k) => [1, 2].map((i) => ({ id: `${kind.slice(0, 2)}${i}`, kind, models: [`model-${k}${i}`], ...(kind === 'ollama' && i === 2 && { load: { cpuShare: 0.3 } }) })));
    const cluster = await startCluster(dir, [...nodes, { id: 'stuck', kind: 'ollama', models: ['qwen3:8b'], fault: 'hang' }], PROBE_TIMEOUT_MS);
    try {
      const healthy = path.join(dir, 'healthy.yaml');
      writeFileSync(healthy, `nodes:\n${cluster.ready.nodes.filter((n) => n.id !== 'stuck').map((n) => `  - { id: ${n.id}, kind: ${n.kind}, url: "${n.url}" }`).join('\n')}\nevidence: { timeoutMs: ${EVIDENCE_TIMEOUT_MS} }\n`);
      const stuck = cluster.ready.nodes.find((n) => n.id === 'stuck');
      const hung = path.join(dir, 'hung.yaml');
      writeFileSync(hung, `nodes:\n  - { id: stuck, kind: ollama, url: "${stuck.url}", timeoutMs: ${PROBE_TIMEOUT_MS}, process: node }\nevidence: { timeoutMs: ${EVIDENCE_TIMEOUT_MS} }\n`);
      const time = async (args, gpu) => {
        const ms = [];
        for (let i = 0; i < runs; i++) ms.push((await timed(process.execPath, [BIN, ...args, '--data-dir', path.join(dir, 'data')], { env: { ...process.env, PATH, JARVIS_TEST_GPU: gpu } })).ms);
        return median(ms);
      };
      const plain = await time(['status', '--json', '--config', healthy], 'busy');
      const withEvidence = await time(['status', '-v', '--json', '--config', healthy], 'busy');
      rows.push(['jarvis status (6 healthy nodes)', fmt(plain), '']);
      rows.push(['jarvis status -v (GPU, loaded models, logs, process of each)', fmt(withEvidence), `+${fmt(withEvidence - plain)}`]);
      const bound = Math.max(PROBE_TIMEOUT_MS, EVIDENCE_TIMEOUT_MS) + 500;
      const hungMs = await time(['diagnose', 'stuck', '--json', '--config', hung], 'hang');
      rows.push([`jarvis diagnose, node hung, nvidia-smi hangs (probe ${PROBE_TIMEOUT_MS} ms, evidence ${EVIDENCE_TIMEOUT_MS} ms)`, fmt(hungMs), `${fmt(bound)}: ${hungMs <= bound ? 'met' : 'MISSED'}`]);
    } finally {
      await cluster.stop();
    }
  } finally {
    cleanup();
  }
  printTable(`evidence collection (median of ${runs})`, ['command', 'wall', 'added / target (the longer timeout + start-up)'], rows);
}
