import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A hang catcher, not a speed limit: a test that starts a dozen processes takes 25 s alone
    // and twice that beside another suite, and must not fail for it.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration tests mostly wait on the processes they start (nodes that hang, timeouts,
    // recoveries), so on a 2-core machine four files at once keep the cores busy where one
    // left them idle (vitest's default here is one: cores - 1). Every wait in a test is on a
    // condition, never on the machine's speed, so a busy core slows a test without failing it.
    maxWorkers: 4,
    minWorkers: 1,
    globalSetup: ['test/integration/setup.ts'],
  },
});
