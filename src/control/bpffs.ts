// The pin directory must sit on a bpffs: find out from /proc/self/mountinfo, mount one when needed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { RuntimeError } from './errors.js';

export const DEFAULT_PIN_PATH = '/sys/fs/bpf/quicsteer';

/** The filesystem type of the mount holding `p` (the deepest mount point above it). */
export function fsTypeOf(p: string): string | undefined {
  let best = '';
  let type: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // id parent major:minor root mountpoint options ... - fstype source superoptions
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0) continue;
    const mnt = f[4]!.replace(/\\040/g, ' ');
    if ((p === mnt || p.startsWith(mnt.endsWith('/') ? mnt : `${mnt}/`)) && mnt.length >= best.length) {
      best = mnt;
      type = f[sep + 1];
    }
  }
  return type;
}

function mount(dir: string): void {
  try {
    execFileSync('mount', ['-t', 'bpf', 'bpf', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new RuntimeError(`cannot mount bpffs on ${dir}: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
  }
}

/** Makes `pin` a directory on a bpffs: mounts one on /sys/fs/bpf (for paths below it) or on `pin` itself. */
export function ensurePinDir(pin: string): void {
  const abs = path.resolve(pin);
  try {
    if (fsTypeOf(abs) !== 'bpf') {
      const root = abs === '/sys/fs/bpf' || abs.startsWith('/sys/fs/bpf/') ? '/sys/fs/bpf' : abs;
      mkdirSync(root, { recursive: true });
      mount(root);
    }
    if (!existsSync(abs)) mkdirSync(abs, { recursive: true });
  } catch (e) {
    if (e instanceof RuntimeError) throw e;
    throw new RuntimeError(`cannot create the pin directory ${abs}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** After the last pinned object under `pin` went: the pin directory goes too when empty (a mount point stays). */
export function releasePinDir(pin: string): void {
  try {
    rmdirSync(pin);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EBUSY' && code !== 'ENOENT' && code !== 'ENOTEMPTY') throw e;
  }
}
