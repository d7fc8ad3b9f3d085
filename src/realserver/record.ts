// The realserver record: what setup changed in one network namespace, kept where only root can write,
// never through a symlink, replaced atomically, and validated (keys, values, addresses) when read back.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { flockWithin } from '../control/lock.js';
import { RuntimeError, UsageError } from '../control/errors.js';
import { normVip, vipProblem } from './vip.js';

/** Default records live here, one file per network namespace. */
export const DEFAULT_REALSERVER_DIR = '/run/quicsteer/realserver';

// LVS-DR: answer ARP only for addresses on the asking interface (1), and never source ARP from the
// VIP (2). These four are the only sysctls setup touches, so the only ones teardown will ever write.
export const SYSCTLS = {
  'net/ipv4/conf/all/arp_ignore': '1',
  'net/ipv4/conf/all/arp_announce': '2',
  'net/ipv4/conf/lo/arp_ignore': '1',
  'net/ipv4/conf/lo/arp_announce': '2',
} as const;
export type SysctlKey = keyof typeof SYSCTLS;
const isSysctlKey = (k: string): k is SysctlKey => Object.hasOwn(SYSCTLS, k);

/** A network namespace's identity: the nsfs device and inode of /proc/self/ns/net. */
export interface NetnsId {
  dev: number;
  ino: number;
}

export function currentNetns(): NetnsId {
  const s = fs.statSync('/proc/self/ns/net');
  return { dev: s.dev, ino: s.ino };
}

/** The record of the calling process's network namespace. */
export function defaultRecordPath(id: NetnsId = currentNetns()): string {
  return path.join(DEFAULT_REALSERVER_DIR, `netns-${id.dev}-${id.ino}.json`);
}

// a value these sysctls hold (the kernel takes an int; the real ones are 0..8)
const SysctlValue = z.string().regex(/^(0|-?[1-9][0-9]{0,3})$/, { message: 'not a small integer' });

const Vip = z
  .string()
  .refine((s) => vipProblem(s) === undefined, (s) => ({ message: `${JSON.stringify(s)}: ${vipProblem(s)}` }))
  .transform(normVip);

export const RealServerRecord = z
  .object({
    version: z.literal(1),
    netns: z.object({ dev: z.number().int().nonnegative(), ino: z.number().int().positive() }).strict(),
    /** false from the moment setup recorded what it is about to change until it has changed it */
    complete: z.boolean(),
    /** VIPs setup added to lo (not ones that were already there) */
    addresses: z.array(Vip),
    /** sysctl -> the value before setup changed it */
    sysctls: z.record(z.string(), SysctlValue).superRefine((o, ctx) => {
      for (const k of Object.keys(o))
        if (!isSysctlKey(k)) ctx.addIssue({ code: 'custom', path: [k], message: `key ${JSON.stringify(k)} is not a sysctl setup changes` });
    }),
  })
  .strict();
export type RealServerRecordT = { version: 1; netns: NetnsId; complete: boolean; addresses: string[]; sysctls: Partial<Record<SysctlKey, string>> };

// how long a setup or teardown waits for another one in the same directory
const LOCK_WAIT_MS = 10_000;

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY } = fs.constants;
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** Why a directory is unsafe for root to keep state in, or undefined. */
function unsafe(st: fs.Stats, sticky: boolean): string | undefined {
  if (st.isSymbolicLink()) return 'is a symlink';
  if (!st.isDirectory()) return 'is not a directory';
  if (st.uid !== 0) return `is owned by uid ${st.uid}, not root`;
  if (st.mode & 0o022 && !(sticky && st.mode & 0o1000)) return `is group- or world-writable (mode ${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}

/** A record file in a directory only root can change; every path below is resolved once, here. */
export class RecordStore {
  readonly file: string;
  readonly #dir: string;
  readonly #base: string;

  /** create: make the directory (0700) when missing; otherwise a missing directory means no record. */
  constructor(file: string, create: boolean) {
    if (!file) throw new UsageError('bad --state: empty path');
    const abs = path.resolve(file);
    this.file = abs;
    this.#base = path.basename(abs);
    const given = path.dirname(abs);
    if (create) {
      try {
        if (given === DEFAULT_REALSERVER_DIR) fs.mkdirSync(path.dirname(given), { recursive: true, mode: 0o755 });
        fs.mkdirSync(given, { recursive: true, mode: 0o700 });
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw new RuntimeError(`cannot create the state directory ${given}: ${(e as Error).message}`);
      }
    }
    // resolve the parent once and check every directory up to /: none may be changeable by another user
    let parent: string;
    try {
      parent = fs.realpathSync(path.dirname(given));
    } catch (e) {
      if (!create && errno(e) === 'ENOENT') parent = '';
      else throw new RuntimeError(`state directory ${given}: ${(e as Error).message}`);
    }
    this.#dir = parent ? path.join(parent, path.basename(given)) : given;
    if (!parent) return;
    for (let d = parent; ; d = path.dirname(d)) {
      const why = unsafe(fs.lstatSync(d), true);
      if (why) throw new RuntimeError(`state directory ${given}: its parent ${d} ${why}: refusing to keep root's state there`);
      if (d === '/') break;
    }
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.#dir);
    } catch (e) {
      if (!create && errno(e) === 'ENOENT') return;
      throw new RuntimeError(`state directory ${given}: ${(e as Error).message}`);
    }
    const why = unsafe(st, false);
    if (why) throw new RuntimeError(`state directory ${given} ${why}: refusing to keep root's state there (use a root-owned directory, mode 0700)`);
  }

  /**
   * Takes the directory's exclusive lock (one setup or teardown at a time, waiting up to waitMs),
   * and returns its release; a directory that does not exist (teardown, no record) needs none.
   */
  lock(waitMs = LOCK_WAIT_MS): () => void {
    let fd: number;
    try {
      fd = fs.openSync(this.#dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (e) {
      if (errno(e) === 'ENOENT') return () => {};
      throw new RuntimeError(`state directory ${path.dirname(this.file)}: ${(e as Error).message}`);
    }
    if (!flockWithin(fd, waitMs)) {
      fs.closeSync(fd);
      throw new RuntimeError(`another realserver setup or teardown holds ${path.dirname(this.file)} (waited ${waitMs / 1000} s): try again when it is done`);
    }
    return () => fs.closeSync(fd); // closing the last fd releases the flock
  }

  get #path(): string {
    return path.join(this.#dir, this.#base);
  }

  /** The record, validated, or undefined when there is none. */
  read(): RealServerRecordT | undefined {
    let fd: number;
    try {
      fd = fs.openSync(this.#path, O_RDONLY | O_NOFOLLOW);
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      if (errno(e) === 'ELOOP') throw new RuntimeError(`state file ${this.file} is a symlink: refusing to follow it (remove it after checking what created it)`);
      throw new RuntimeError(`cannot read state file ${this.file}: ${(e as Error).message}`);
    }
    let text: string;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new RuntimeError(`state file ${this.file} is not a regular file: refusing it (remove it after checking what created it)`);
      if (st.uid !== 0) throw new RuntimeError(`state file ${this.file} is owned by uid ${st.uid}, not root: refusing it (remove it after checking what created it)`);
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new RuntimeError(`state file ${this.file} is not valid JSON (${(e as Error).message}): check it, then remove it; nothing was changed`);
    }
    const r = RealServerRecord.safeParse(raw);
    if (!r.success) {
      const i = r.error.issues[0]!;
      const where = i.path.length ? `${i.path.map(String).join('.')}: ` : '';
      throw new RuntimeError(`state file ${this.file} is not a realserver record (${where}${i.message}): refusing it, nothing was changed; check it, then remove it`);
    }
    return r.data as RealServerRecordT;
  }

  /** Replaces the record atomically: a temp file beside it (O_EXCL, O_NOFOLLOW), fsync, rename. */
  write(rec: RealServerRecordT): void {
    this.#sweep();
    const text = JSON.stringify(RealServerRecord.parse(rec), null, 2) + '\n';
    const tmp = path.join(this.#dir, `.${this.#base}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    let fd: number | undefined;
    try {
      fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      fs.writeFileSync(fd, text);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = undefined;
      fs.renameSync(tmp, this.#path);
      this.#syncDir();
    } catch (e) {
      if (fd !== undefined) fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw new RuntimeError(`cannot write state file ${this.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  remove(): void {
    this.#sweep();
    try {
      fs.unlinkSync(this.#path);
      this.#syncDir();
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw new RuntimeError(`cannot remove state file ${this.file}: ${(e as Error).message}`);
    }
  }

  // temp files of a writer killed between create and rename. Writers hold the directory's lock
  // (lock()) while a temp file exists, and so does the caller: any other writer's temp file is dead,
  // whether or not its pid now names another (reused) or an unreaped process.
  #sweep(): void {
    const prefix = `.${this.#base}.`;
    for (const f of fs.readdirSync(this.#dir)) {
      const m = f.startsWith(prefix) ? /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(f.slice(prefix.length)) : null;
      if (m && Number(m[1]) !== process.pid) fs.rmSync(path.join(this.#dir, f), { force: true });
    }
  }


  #syncDir(): void {
    const d = fs.openSync(this.#dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  }
}
