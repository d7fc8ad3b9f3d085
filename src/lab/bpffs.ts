// A private bpffs instance on a temp dir, so pin tests never touch /sys/fs/bpf; removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sh } from './netns.js';
import { claim } from './owner.js';

// Mounts still up when the process exits (a test that died midway) are removed then.
const live = new Set<TempBpffs>();
process.on('exit', () => {
  for (const fs of live) fs.destroy();
});

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
    sh('umount', this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
