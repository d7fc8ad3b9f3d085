// One writer at a time per pin path: an exclusive flock(2) on a lock file named after the pin path,
// held for the read-modify-write of a command and released by the kernel if the process dies.
// Readers take no lock (a writer only ever writes the generation that is not live).
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { native } from '../bpf/native.js';
import { RuntimeError } from './errors.js';

/** Where lock files live: /run is shared by `ip netns exec` and cleared at boot, like the pins. */
export const LOCK_DIR = process.env.QUICSTEER_LOCK_DIR || '/run/quicsteer/locks';
/** How long a writer waits for another by default (seconds; --wait changes it). */
export const DEFAULT_WAIT_S = 10;

let waitSeconds = DEFAULT_WAIT_S;

/** Sets how long writers wait for the lock (the CLI's --wait). */
export function setLockWait(seconds: number): void {
  waitSeconds = seconds;
}

const held = new Map<string, { fd: number; depth: number }>();
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

/** flock(fd, LOCK_EX), waited for up to waitMs by polling with backoff: true once taken, false on time-out. */
export function flockWithin(fd: number, waitMs: number): boolean {
  const deadline = Date.now() + waitMs;
  let pause = 2;
  while (!native().flock(fd, 'ex')) {
    if (Date.now() >= deadline) return false;
    sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
    pause = Math.min(pause * 2, 25);
  }
  return true;
}

/** The lock file of a pin path (the same path from every namespace and directory). */
export function lockFileOf(pin: string): string {
  const abs = path.resolve(pin);
  return path.join(LOCK_DIR, `${createHash('sha256').update(abs).digest('hex').slice(0, 24)}.lock`);
}

function ensureLockDir(): void {
  mkdirSync(LOCK_DIR, { recursive: true, mode: 0o700 });
  const st = lstatSync(LOCK_DIR);
  const me = process.geteuid?.() ?? 0;
  if (!st.isDirectory() || (st.uid !== 0 && st.uid !== me) || (st.mode & 0o022) !== 0)
    throw new RuntimeError(`refusing the lock directory ${LOCK_DIR}: it must be a directory owned by root and writable by its owner only`);
}

/** Who holds the lock now, from what the holder wrote into the file. */
function holderOf(file: string): string {
  try {
    const [pid, ...cmd] = readFileSync(file, 'utf8').trim().split('\n');
    if (!pid) return 'another process';
    return `pid ${pid}${cmd.length ? ` (${cmd.join(' ')})` : ''}`;
  } catch {
    return 'another process';
  }
}

function describeSelf(): string {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('-')).slice(0, 3);
  return `quicsteer ${args.join(' ')}`.trim();
}

/** Opens a lock file: a regular file in the lock directory, never through a link. */
function openLock(file: string): number {
  ensureLockDir();
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new RuntimeError(`refusing the lock file ${file}: not a regular file`);
  }
  return fd;
}

/** With the flock taken (`taken`; else the fd is closed and `refused` thrown): the file names this process for whoever waits. */
function markHeld(fd: number, taken: boolean, refused: () => string): number {
  try {
    if (!taken) throw new RuntimeError(refused());
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n${describeSelf()}\n`, 0);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/** Takes the lock file's flock within --wait seconds (else fails naming the holder and `what` it guards); returns its fd. */
function acquire(file: string, what: string): number {
  const fd = openLock(file);
  return markHeld(fd, flockWithin(fd, waitSeconds * 1000), () => `${what} is being changed by ${holderOf(file)}; gave up after ${waitSeconds} s (--wait <seconds> to wait longer)`);
}

function release(fd: number): void {
  try {
    ftruncateSync(fd, 0);
  } catch {
    // the lock goes with the fd either way
  }
  closeSync(fd);
}

/**
 * Runs `fn` holding the pin path's writer lock; waits up to --wait seconds for another writer,
 * then fails naming it. Reentrant within a process (apply attaches under its own lock).
 */
export function withWriteLock<T>(pin: string, fn: () => T): T {
  const file = lockFileOf(pin);
  const mine = held.get(file);
  if (mine) {
    mine.depth++;
    try {
      return fn();
    } finally {
      mine.depth--;
    }
  }
  const fd = acquire(file, path.resolve(pin));
  held.set(file, { fd, depth: 1 });
  try {
    return fn();
  } finally {
    held.delete(file);
    release(fd);
  }
}

/**
 * Runs the async `fn` holding the writer lock of a director's state file (director apply, remove):
 * two of them at once would interleave their ipvsadm calls and their state writes. Waits as
 * withWriteLock does; the kernel drops the lock if the process dies.
 */
export async function withDirectorLock<T>(state: string, fn: () => Promise<T>): Promise<T> {
  const abs = path.resolve(state);
  const fd = acquire(directorLockFile(abs), `the director (state ${abs})`);
  try {
    return await fn();
  } finally {
    release(fd);
  }
}

/** The lock file `director apply`, `remove` and `health` take for a state file. */
export function directorLockFile(state: string): string {
  return path.join(LOCK_DIR, `director-${createHash('sha256').update(path.resolve(state)).digest('hex').slice(0, 24)}.lock`);
}

/**
 * withDirectorLock for a daemon (`director health`): it waits for as long as a writer holds the
 * lock, without blocking its event loop (its other probes go on), so a long apply delays a weight
 * change and never drops it. Resolves undefined, without running `fn`, if `signal` aborts first.
 */
export async function withDirectorLockPatient<T>(state: string, fn: () => Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  const fd = openLock(directorLockFile(state));
  let taken = native().flock(fd, 'ex');
  while (!taken && !signal.aborted) {
    await new Promise((r) => setTimeout(r, 50));
    taken = native().flock(fd, 'ex');
  }
  if (!taken) {
    closeSync(fd);
    return undefined;
  }
  markHeld(fd, true, () => '');
  try {
    return await fn();
  } finally {
    release(fd);
  }
}

/**
 * The agent's own lock, held for its whole life (the kernel drops it when the process dies, kill -9
 * included): one agent per pin path, since two would undo each other's health marks and reloads.
 * Returns its release.
 */
export function holdAgentLock(pin: string): () => void {
  const file = lockFileOf(pin).replace(/\.lock$/, '.agent.lock');
  const fd = openLock(file);
  markHeld(fd, native().flock(fd, 'ex'), () => `another quicsteer agent runs for ${path.resolve(pin)} (${holderOf(file)}): one agent per pin path`);
  return () => release(fd);
}
