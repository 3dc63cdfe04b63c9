/**
 * Where the package's own files are (runbooks/, bin/, package.json). Found by walking up from this
 * module, so it holds both for the sources (src/system/) and for the bundle (dist/).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'runbooks'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`jarvis: cannot find the package root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The package root: the folder holding package.json, bin/ and runbooks/. */
export const PACKAGE_ROOT = findRoot();

/** The CLI's entry, to run jarvis as a child process (demo, sims). */
export const JARVIS_BIN = path.join(PACKAGE_ROOT, 'bin', 'jarvis.js');

/** The package's version (package.json), for --version and what jarvis tells an MCP client. */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
