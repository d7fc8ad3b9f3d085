// QUIC-LB keys: read from a root-only file (or stdin), shown only as a fingerprint; never printed, logged or put in argv.
import { closeSync, fstatSync, openSync, readSync, constants } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { LB_KEY_LEN } from '../bpf/layout.js';
import { RuntimeError, UsageError, fsErrorLine } from './errors.js';

/** A key's fingerprint: 8 hex digits of SHA-256 over a label and the key (tells keys apart, reveals nothing usable). */
export function keyFingerprint(key: Buffer): string {
  return createHash('sha256').update('quicsteer quic-lb key fingerprint\0').update(key).digest('hex').slice(0, 8);
}

/** The key in hex text (32 digits, surrounding whitespace allowed); `where` names the source in the error, never the text. */
export function parseKeyText(text: string, where: string): Buffer {
  const t = text.trim().toLowerCase().replace(/^0x/, '');
  if (!new RegExp(`^[0-9a-f]{${2 * LB_KEY_LEN}}$`).test(t)) throw new UsageError(`${where}: expected ${2 * LB_KEY_LEN} hex digits (a ${LB_KEY_LEN}-byte AES-128 key)`);
  return Buffer.from(t, 'hex');
}

// Longer than any key file with comments quicsteer would accept: nothing big is read.
const MAX_KEY_FILE = 4096;

/**
 * Reads a key file: a regular file (a symlink to one is fine), owned by root or this user, and
 * not readable or writable by group or others, like ssh's private keys.
 */
export function readKeyFile(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (e) {
    throw new RuntimeError(`cannot read key file ${file}: ${fsErrorLine(e)}`, 'file');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`key file ${file}: not a regular file`, 'bad-file');
    const euid = process.geteuid?.() ?? 0;
    if (st.uid !== 0 && st.uid !== euid) throw new UsageError(`key file ${file}: owned by uid ${st.uid}, not by root: chown root ${file}`, 'bad-file');
    if (st.mode & 0o077) throw new UsageError(`key file ${file}: group or others may access it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${file}`, 'bad-file');
    if (st.size > MAX_KEY_FILE) throw new UsageError(`key file ${file}: ${st.size} bytes, not a key`, 'bad-file');
    const buf = Buffer.alloc(MAX_KEY_FILE);
    const n = readSync(fd, buf, 0, MAX_KEY_FILE, 0);
    try {
      return parseKeyText(buf.subarray(0, n).toString('latin1'), `key file ${file}`);
    } finally {
      buf.fill(0);
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads the key from standard input (key-file=-), once per process. */
let stdinUsed = false;
export function readKeyStdin(read: () => Buffer = () => readStdinAll()): Buffer {
  if (stdinUsed) throw new UsageError('key-file=- given twice: standard input holds one key');
  stdinUsed = true;
  const buf = read();
  try {
    return parseKeyText(buf.toString('latin1'), 'key on standard input');
  } finally {
    buf.fill(0);
  }
}

function readStdinAll(): Buffer {
  const chunks: Buffer[] = [];
  const b = Buffer.alloc(MAX_KEY_FILE);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, b, 0, b.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EOF') break;
      throw new RuntimeError(`cannot read the key from standard input: ${fsErrorLine(e)}`, 'file');
    }
    if (n === 0) break;
    chunks.push(Buffer.from(b.subarray(0, n)));
    if (chunks.reduce((a, c) => a + c.length, 0) > MAX_KEY_FILE) throw new UsageError('key on standard input: more than a key');
  }
  b.fill(0);
  return Buffer.concat(chunks);
}

/** A key-file path as given: `-` (stdin), absolute, or relative to `base` (an apply file's folder; the cwd otherwise). */
export function resolveKeyPath(p: string, base?: string): string {
  return p === '-' || path.isAbsolute(p) || !base ? p : path.join(base, p);
}
