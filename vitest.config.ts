import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real processes; give them room on a busy 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Integration tests mostly wait on the processes they start (nodes that hang, timeouts,
    // recoveries), so on a 2-core machine three files at once keep the cores busy where one
    // left them idle (vitest's default here is one: cores - 1). Every wait in a test is on a
    // condition, never on the machine's speed, so a busy core slows a test without failing it.
    maxWorkers: 3,
    minWorkers: 1,
    globalSetup: ['test/integration/setup.ts'],
  },
});
