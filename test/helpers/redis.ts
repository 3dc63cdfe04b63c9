/**
 * A real Redis for a test file (Debian's redis-server; .ci/run installs it), on a free loopback
 * port with its files in a temp dir, no persistence. `available` is false where it is not
 * installed: the tests that need it are skipped, with the reason printed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { waitFor } from './wait.js';
import { freePort } from './cli.js';

export const hasRedis = spawnSync('redis-server', ['--version']).error === undefined;

export class TestRedis {
  #child: ChildProcess | undefined;
  port = 0;

  constructor(private readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get up(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts it (on the port it had, when it ran before) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    this.#child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: 'ignore' });
    await waitFor(
      () =>
        new Promise<boolean>((r) => {
          const s = net.connect({ host: '127.0.0.1', port: this.port }, () => (s.destroy(), r(true)));
          s.on('error', () => r(false));
        }),
      { what: 'redis-server listening' },
    );
  }

  /** Killed at once (what an outage looks like), and awaited. */
  async stop(): Promise<void> {
    const r = this.#child;
    if (!r || !this.up) return;
    r.kill('SIGKILL');
    await new Promise((res) => r.once('exit', res));
  }
}
