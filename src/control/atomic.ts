// Replacing a file atomically: a reader sees the old text or the new one, never a part of either.
import { closeSync, constants, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { RuntimeError, fsErrorLine } from './errors.js';

/** Writes `text` to a temp file beside `file` (O_EXCL, O_NOFOLLOW, exactly `mode`), fsyncs it and renames it over `file`. */
export function writeFileAtomic(file: string, text: string, mode: number): void {
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
