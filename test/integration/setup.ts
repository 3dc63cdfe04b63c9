import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Integration tests run the built CLI: say so plainly when it is not built. */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  if (!existsSync(path.join(root, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run build` first (npm test does it for you)');
  }
}
