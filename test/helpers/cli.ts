// Runs the quicsteer command as a user would: a separate process, optionally inside a test namespace.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './paths.js';

export const SHIM = path.join(ROOT, 'scripts/quicsteer.mjs');

export interface CliResult {
  code: number;
  /** the process id (its namespaces, mounts and temp dirs carry it) */
  pid: number;
  stdout: string;
  stderr: string;
}

/** `shim`: another installation's scripts/quicsteer.mjs (default: this checkout's). */
export function cli(args: string[], o: { ns?: string; asUser?: number; env?: Record<string, string>; input?: string; shim?: string } = {}): CliResult {
  let cmd = [process.execPath, o.shim ?? SHIM, ...args];
  if (o.asUser !== undefined) cmd = ['setpriv', `--reuid=${o.asUser}`, `--regid=${o.asUser}`, '--clear-groups', ...cmd];
  if (o.ns) cmd = ['ip', 'netns', 'exec', o.ns, ...cmd];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', env: { ...process.env, ...o.env, QUICSTEER_DEBUG: '' }, cwd: '/', input: o.input ?? '' });
  return { code: r.status ?? -1, pid: r.pid, stdout: r.stdout, stderr: r.stderr };
}

/** The JSON a --json command printed. */
export function cliJson<T = unknown>(r: CliResult): T {
  if (r.code !== 0) throw new Error(`quicsteer exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
