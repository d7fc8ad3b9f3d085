#!/usr/bin/env node
// The quicsteer command: runs the built CLI (build/dist) from wherever it is linked on PATH.
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

// Node resolves the PATH symlink, so this is the checkout's scripts/ folder.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let cli;
try {
  cli = await import(pathToFileURL(path.join(root, 'build/dist/src/cli/index.js')).href);
} catch (e) {
  process.stderr.write(`quicsteer: not built (${e.message}); run the setup command from the README\n`);
  process.exit(1);
}
process.exitCode = await cli.main(process.argv);
