/** The one door to child processes: a command cancelled by Ctrl-C signals its own group, never jarvis's. */
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/system/process.js';

describe('runCommand cancelled', () => {
  it('a program that is not found, cancelled at once: no signal reaches this process group', async () => {
    let got = 0;
    const onTerm = () => void got++;
    process.on('SIGTERM', onTerm);
    try {
      for (let i = 0; i < 5; i++) {
        const ac = new AbortController();
        const running = runCommand(['jarvis-no-such-program-here'], { timeoutMs: 5000, signal: ac.signal });
        ac.abort();
        const r = await running;
        expect(r.notFound || r.canceled).toBe(true);
      }
      // A signal sent to our group would have been delivered by now (setImmediate runs after I/O).
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toBe(0);
    } finally {
      process.off('SIGTERM', onTerm);
    }
  });

  it('already cancelled: nothing is started', async () => {
    const r = await runCommand(['sleep', '5'], { timeoutMs: 5000, signal: AbortSignal.abort() });
    expect(r).toMatchObject({ canceled: true, exitCode: undefined, durationMs: 0 });
  });

  it('cancelled while it runs: its group is stopped, and the result says so', async () => {
    const ac = new AbortController();
    const running = runCommand(['sh', '-c', 'sleep 30 & sleep 30'], { timeoutMs: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const r = await running;
    expect(r.canceled).toBe(true);
    expect(r.exitCode).toBeUndefined();
  });
});
