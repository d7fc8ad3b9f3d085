// Temporary directories for tests, removed when the test process exits (even after a failure).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { claim } from './owner.js';

const dirs = new Set<string>();
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), `${prefix}-${process.pid}-`));
  claim({ kind: 'dir', path: d });
  dirs.add(d);
  return d;
}
