// Runs the quicsteer command as a user would: a separate process, optionally inside a test namespace.
import { spawn, spawnSync } from 'node:child_process';
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

export interface CliOptions {
  ns?: string;
  asUser?: number;
  env?: Record<string, string>;
  input?: string;
  /** another installation's scripts/quicsteer.mjs (default: this checkout's) */
  shim?: string;
}

function command(args: string[], o: CliOptions): { cmd: string[]; env: NodeJS.ProcessEnv } {
  let cmd = [process.execPath, o.shim ?? SHIM, ...args];
  if (o.asUser !== undefined) cmd = ['setpriv', `--reuid=${o.asUser}`, `--regid=${o.asUser}`, '--clear-groups', ...cmd];
  if (o.ns) cmd = ['ip', 'netns', 'exec', o.ns, ...cmd];
  return { cmd, env: { ...process.env, ...o.env, QUICSTEER_DEBUG: '' } };
}

export function cli(args: string[], o: CliOptions = {}): CliResult {
  const { cmd, env } = command(args, o);
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', env, cwd: '/', input: o.input ?? '' });
  return { code: r.status ?? -1, pid: r.pid, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking this process (sockets the test serves keep answering while it runs). */
export function cliAsync(args: string[], o: Omit<CliOptions, 'input'> = {}): Promise<CliResult> {
  const { cmd, env } = command(args, o);
  const c = spawn(cmd[0]!, cmd.slice(1), { env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => c.on('close', (code) => resolve({ code: code ?? -1, pid: c.pid ?? -1, stdout, stderr })));
}

/** The JSON a --json command printed. */
export function cliJson<T = unknown>(r: CliResult): T {
  if (r.code !== 0) throw new Error(`quicsteer exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
