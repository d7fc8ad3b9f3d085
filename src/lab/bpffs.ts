// A private bpffs instance on a temp dir, so pin tests never touch /sys/fs/bpf; removed afterwards.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sh } from './netns.js';
import { claim } from './owner.js';

// Mounts still up when the process exits (a test that died midway) are removed then.
const live = new Set<TempBpffs>();
process.on('exit', () => {
  for (const fs of live) fs.destroy();
});

/** Whether a filesystem is mounted on `dir` (in this mount namespace). */
function mounted(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir);
}

export class TempBpffs {
  readonly dir: string;

  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `qs-bpffs-${process.pid}-`));
    claim({ kind: 'dir', path: this.dir });
    claim({ kind: 'bpffs', path: this.dir });
    sh('mount', '-t', 'bpf', 'bpf', this.dir);
    live.add(this);
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  destroy(): void {
    if (!live.delete(this)) return;
    // a test may have unmounted it (a reboot's worth of loss) and a command mounted one again, or not
    while (mounted(this.dir)) sh('umount', this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
