#!/usr/bin/env node
// Shim: the CLI itself is compiled to dist/ (npm install runs `prepare`, which builds it).
import('../dist/main.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/main.js')) {
    process.stderr.write('jarvis: the CLI is not built yet; run `npm install` (or `npm run build`) first.\n');
    process.exit(3);
  }
  throw error;
});
