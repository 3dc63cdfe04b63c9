import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { reportFor } from '../../src/cli/exit.js';
import { ExitCode, UsageError } from '../../src/errors.js';

/** The program parses in-process: bad arguments are refused before any command module loads. */
const parse = (...args: string[]) => {
  const program = buildProgram({ argv: ['node', 'jarvis', ...args], env: {}, signal: new AbortController().signal });
  // commander prints usage errors itself; silence it here.
  program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  for (const c of program.commands) c.configureOutput({ writeErr: () => undefined, writeOut: () => undefined }).exitOverride();
  return program.parseAsync(['node', 'jarvis', ...args]);
};

describe('the commander program', () => {
  it('refuses bad option values with a UsageError naming the flag (exit 2)', async () => {
    await expect(parse('diagnose', 'm2', '--ping-timeout', '0')).rejects.toThrow(/--ping-timeout: expected a whole number from 1 to 600000, got "0"/);
    await expect(parse('serve', '--port', '70000')).rejects.toThrow(/--port: expected a whole number from 0 to 65535/);
    await expect(parse('reset')).rejects.toThrow(/name a node, or --all/);
    await expect(parse('reset', 'm2', '--all')).rejects.toThrow(/a node or --all, not both/);
    await expect(parse('serve', '--low-memory', '--v8-defaults')).rejects.toThrow(/--low-memory and --v8-defaults contradict each other/);
  });

  it('maps what reaches the top to exit codes in one place', async () => {
    expect(reportFor(new UsageError('x'), false)).toEqual({ code: ExitCode.usage, stderr: 'jarvis: x\n' });
    const unknownCommand = await parse('frobnicate').catch((e: unknown) => e);
    expect(reportFor(unknownCommand, false).code).toBe(ExitCode.usage);
    expect(reportFor(new Error('boom'), true)).toEqual({ code: ExitCode.interrupted, stderr: 'jarvis: interrupted\n' });
    expect(reportFor(new Error('boom'), false)).toMatchObject({ code: ExitCode.internal, stderr: expect.stringContaining('internal error: Error: boom') });
  });
});
