// Bundles the CLI into dist/ with esbuild. Start-up is part of the product (`jarvis status` from
// cron every few minutes, `--help` at a prompt): one bundled file per lazily loaded command
// parses in a fraction of the time of resolving hundreds of modules in node_modules (zod alone
// costs ~60 ms unbundled, ~25 ms bundled). Type checking stays with tsc (`npm run typecheck`).
import { existsSync, rmSync } from 'node:fs';

// `npm install -g .` in a checkout whose devDependencies are not installed runs this too (npm's
// \`prepare\`): with a dist/ already built there is nothing to do; without one, say how to get it.
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  if (existsSync('dist/main.js')) {
    console.error('jarvis: esbuild is not installed; keeping the dist/ already built (npm ci builds it afresh)');
    process.exit(0);
  }
  console.error('jarvis: esbuild is not installed, so the CLI cannot be built: run `npm ci` in the checkout first, then `npm install -g .`');
  process.exit(1);
}
const { build } = esbuild;

rmSync('dist', { recursive: true, force: true });
await build({
  // For the benchmarks too: children.js (the ready-line wait and the stop they share with the demo
  // and the tests), the Anthropic translation, timed as pure code, the history store, read in
  // process, serve's V8 flags, whose effect on the heap the benchmarks measure, and affinity's
  // keys and pins, whose lookup is timed in process.
  entryPoints: ['src/main.ts', 'src/system/children.ts', 'src/protocols/anthropic/request.ts', 'src/store/history.ts', 'src/serve/tuning.ts', 'src/affinity/fingerprint.ts', 'src/affinity/pins.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  minifySyntax: true,
  // Whitespace too: Node keeps every loaded module's source text in the heap; minified, `jarvis
  // serve` idles 2 MB lower (64 against 66 MB), which counts against its 100 MB target. Stack
  // traces map back through the source maps (NODE_OPTIONS=--enable-source-maps).
  minifyWhitespace: true,
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS dependencies (cli-table3, ...) call require() for Node built-ins; give them one.
  banner: { js: "import { createRequire as __jarvisCreateRequire } from 'node:module'; const require = __jarvisCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
