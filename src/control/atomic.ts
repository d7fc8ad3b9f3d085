// Replacing a file atomically: a reader sees the old text or the new one, never a part of either.
import { closeSync, constants, fchmodSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { RuntimeError, fsErrorLine } from './errors.js';

/** Whether a process with this pid exists (EPERM: it does, as another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files that writers of `file` killed midway (kill -9) left beside it: those whose
 * pid no longer runs. A live writer's, or one whose pid was reused, stays (the next run takes it).
 */
function sweepTemps(file: string): void {
  const re = new RegExp(`^\\.${path.basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.[0-9a-f]{8}\\.tmp$`);
  let names: string[];
  try {
    names = readdirSync(path.dirname(file));
  } catch {
    return; // the write itself says what is wrong with the directory
  }
  for (const n of names) {
    const m = re.exec(n);
    if (m && !alive(Number(m[1]))) rmSync(path.join(path.dirname(file), n), { force: true });
  }
}

/**
 * Writes `text` to a temp file beside `file` (O_EXCL, O_NOFOLLOW, exactly `mode`), fsyncs it and
 * renames it over `file`; first removes what killed writers of `file` left.
 */
export function writeFileAtomic(file: string, text: string, mode: number): void {
  sweepTemps(file);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    fchmodSync(fd, mode); // the umask may have taken bits away
    writeFileSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new RuntimeError(`cannot write ${file}: ${fsErrorLine(e)}`, 'file');
  }
}
