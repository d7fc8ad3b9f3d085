// Temporary directories for tests, removed when the test process exits (even after a failure).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

const QUICSTEER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../scripts/quicsteer.mjs');

/**
 * keepalived runs check and notify scripts only from paths no other user can write
 * (enable_script_security), and a checkout may sit under /tmp: a root-only directory under
 * /run/quicsteer holding `quicsteer` (this checkout's command) and the given shell scripts (mode
 * 0755), removed when the test process exits. Returns the directory.
 */
export function rootOnlyScripts(tag: string, scripts: Record<string, string> = {}): string {
  const d = `/run/quicsteer/${tag}-${process.pid}`;
  mkdirSync(d, { recursive: true, mode: 0o755 });
  claim({ kind: 'dir', path: d });
  dirs.add(d);
  const all = { quicsteer: `exec ${process.execPath} ${QUICSTEER} "$@"`, ...scripts };
  for (const [name, body] of Object.entries(all)) writeFileSync(path.join(d, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return d;
}
