// A private bpffs instance on a temp dir, so pin tests never touch /sys/fs/bpf; removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sh } from './netns.js';

export class TempBpffs {
  readonly dir: string;

  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'qs-bpffs-'));
    sh('mount', '-t', 'bpf', 'bpf', this.dir);
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  destroy(): void {
    sh('umount', this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
