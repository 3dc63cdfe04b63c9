/**
 * Loopback ports for the tests' own servers (sim nodes, sshd, Redis) and for addresses where
 * nothing listens. They come from below the kernel's ephemeral range, in a block of their own
 * for each vitest worker:
 * - a port the kernel hands out to `listen(0)` or to an outgoing connection is never one of
 *   these, so a node switched `down` (its listener closed), a node between its kill and its
 *   restart, or a port meant to refuse stays that way while other suites start servers beside it;
 * - two test files running at once never pick the same port (their workers' blocks differ).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Where the kernel's ephemeral ports start (Linux's default when it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 1024 ? low : 32768;
  } catch {
    return 32768;
  }
}

const FIRST = 12_000;
/** vitest's worker slots (maxWorkers is 4; room for more). */
const BLOCKS = 16;

/** This worker's block of ports, or undefined where there is no room below the ephemeral range. */
const block = ((): { from: number; size: number } | undefined => {
  const size = Math.floor((ephemeralLow() - FIRST) / BLOCKS);
  if (size < 64) return undefined;
  const slot = Number(process.env.VITEST_POOL_ID ?? 0) % BLOCKS;
  return { from: FIRST + slot * size, size };
})();

/** Next candidate in the block: from a random start, in order (no port twice in this process until the block is used up). */
let next = block ? Math.floor(Math.random() * block.size) : 0;

/** Binds `port` (0: the kernel picks) on 127.0.0.1 and lets it go; the port bound, or undefined if taken. */
function tryPort(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' || e.code === 'EACCES' ? resolve(undefined) : reject(e)));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const bound = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}

/** A loopback port nothing listens on now, and that no other test file running now will be given. */
export async function freePort(): Promise<number> {
  if (!block) return (await tryPort(0))!;
  for (let tries = 0; tries < block.size; tries++) {
    const port = block.from + (next++ % block.size);
    const free = await tryPort(port);
    if (free !== undefined) return free;
  }
  throw new Error(`no free port in ${block.from}-${block.from + block.size - 1}`);
}
