/**
 * The process entry (bin/jarvis.js loads its bundle): runs the CLI, turns Ctrl-C / SIGTERM into
 * one cancel signal, and exits with the code the run returned. process.exit is called here only.
 */
import { setMaxListeners } from 'node:events';
import { ExitCode } from './errors.js';
import { runCli } from './cli/program.js';

const interrupt = new AbortController();
// Every probe listens on it at once (200 nodes is a normal cluster for `status`).
setMaxListeners(0, interrupt.signal);
let interrupted = 0;
const onSignal = (signal: NodeJS.Signals) => {
  interrupted++;
  // A second Ctrl-C does not wait for the clean-up.
  if (interrupted > 1) process.exit(ExitCode.interrupted);
  interrupt.abort(new Error(`interrupted by ${signal}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await runCli({ argv: process.argv, env: process.env, signal: interrupt.signal, interrupted: () => interrupted });
process.exitCode = code;
// Whatever a failed command left open (a socket, a timer) must not keep the process alive: an
// unref'd timer fires only if something else still holds the event loop.
setTimeout(() => process.exit(code), 1000).unref();
