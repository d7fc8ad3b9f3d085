// Pin paths that cannot be turned against root: validated, on a bpffs, root-owned, mounted only where safe, and unmounted again.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError, UsageError } from './errors.js';

export const DEFAULT_PIN_PATH = '/sys/fs/bpf/quicsteer';
// statfs(2) f_type of a bpffs (linux/magic.h)
export const BPF_FS_MAGIC = 0xcafe4a11;
// the one place under /sys where pins may live
const SYS_BPFFS = '/sys/fs/bpf';

/**
 * Where the system bpffs lives, and the root-owned directory holding one record per bpffs quicsteer
 * mounted itself (so only those are ever unmounted). Tests point both at temp dirs; nothing else may.
 */
export const pinEnv = { bpffsRoot: SYS_BPFFS, mountRecord: '/run/quicsteer/mounts' };

const under = (p: string, dir: string) => p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);

/** The absolute, normalised pin path, or a UsageError for a path that can never hold quicsteer's pins. Touches nothing. */
export function checkPinPath(pin: string): string {
  if (pin.trim() === '') throw new UsageError('the pin path is empty (--pin-path or QUICSTEER_PIN_PATH): give an absolute directory, e.g. /sys/fs/bpf/quicsteer');
  if (/[\x00-\x1f\x7f]/.test(pin)) throw new UsageError(`the pin path contains a control character: ${JSON.stringify(pin)}`);
  if (!path.isAbsolute(pin)) throw new UsageError(`the pin path must be absolute, not '${pin}' (it would depend on the current directory)`);
  if (pin.split('/').includes('..')) throw new UsageError(`the pin path must not contain '..': ${pin}`);
  const abs = path.resolve(pin);
  if (abs === '/') throw new UsageError('the pin path cannot be /: give a directory of its own, e.g. /sys/fs/bpf/quicsteer');
  if (under(abs, '/proc')) throw new UsageError(`${abs}: /proc cannot hold pinned BPF objects; give a directory on a bpffs, e.g. /sys/fs/bpf/quicsteer`);
  if (under(abs, '/sys') && !(under(abs, SYS_BPFFS) && abs !== SYS_BPFFS))
    throw new UsageError(`${abs}: the only place under /sys for pinned BPF objects is a directory below ${SYS_BPFFS}, e.g. /sys/fs/bpf/quicsteer`);
  if (abs === pinEnv.bpffsRoot) throw new UsageError(`${abs} is shared by every BPF tool: give a directory below it, e.g. ${path.join(abs, 'quicsteer')}`);
  return abs;
}

const isBpf = (p: string) => fs.statfsSync(p).type === BPF_FS_MAGIC;
const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
const cannotCreate = (abs: string, e: unknown) => new RuntimeError(`cannot create the pin directory ${abs}: ${code(e)}`);

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** A directory whose filesystem differs from its parent's (or /). */
function isMountRoot(dir: string, st: fs.Stats): boolean {
  if (dir === '/') return true;
  return fs.lstatSync(path.dirname(dir)).dev !== st.dev;
}

interface Walked {
  /** the pin path with every symlink above it resolved */
  real: string;
  /** its existing directories, from / down */
  dirs: { dir: string; st: fs.Stats }[];
  /** the components below the deepest existing directory */
  missing: string[];
}

/**
 * Resolves `abs` one component at a time: symlinks above the pin directory are followed only when
 * root owns them (and the target is re-checked), the pin directory itself must not be one.
 */
function walk(abs: string): Walked {
  let comps = abs.split('/').filter(Boolean);
  let dirs: Walked['dirs'] = [{ dir: '/', st: fs.lstatSync('/') }];
  let hops = 0;
  for (let i = 0; i < comps.length; i++) {
    const cur = dirs[dirs.length - 1]!.dir;
    const next = path.join(cur, comps[i]!);
    let st: fs.Stats | null;
    try {
      st = lstatOrNull(next);
    } catch (e) {
      throw cannotCreate(abs, e);
    }
    if (!st) return { real: path.join(next, ...comps.slice(i + 1)), dirs, missing: comps.slice(i) };
    if (st.isSymbolicLink()) {
      if (i === comps.length - 1) throw new RuntimeError(`${abs} is a symlink: quicsteer does not follow one for its pin directory (remove it, or pass its target as --pin-path)`);
      if (st.uid !== 0) throw new RuntimeError(`${next} (in the pin path ${abs}) is a symlink owned by uid ${st.uid}, not root: refusing to follow it`);
      if (++hops > 40) throw cannotCreate(abs, Object.assign(new Error(), { code: 'ELOOP' }));
      let target: string;
      try {
        target = fs.realpathSync(next);
      } catch (e) {
        throw cannotCreate(abs, e);
      }
      const rest = comps.slice(i + 1);
      checkPinPath(path.join(target, ...rest));
      comps = [...target.split('/').filter(Boolean), ...rest];
      dirs = [dirs[0]!];
      i = -1;
      continue;
    }
    if (!st.isDirectory()) throw cannotCreate(abs, Object.assign(new Error(), { code: 'ENOTDIR' }));
    dirs.push({ dir: next, st });
  }
  return { real: dirs[dirs.length - 1]!.dir, dirs, missing: [] };
}

const modeOf = (st: fs.Stats) => `0${(st.mode & 0o7777).toString(8)}`;

/**
 * Every existing directory of the pin path must be root's and not writable by others: below a bpffs
 * root not at all (finding: a 1777 /sys/fs/bpf let anyone pre-create the pin directory); at a mount
 * root or above it only with the sticky bit (others then cannot remove or rename what root put there).
 */
function checkOwners(w: Walked, abs: string): void {
  let inBpf = false;
  for (const { dir, st } of w.dirs) {
    const bpf = isBpf(dir);
    const strict = (bpf && inBpf && !isMountRoot(dir, st)) || (dir === w.real && !(bpf && isMountRoot(dir, st)));
    inBpf ||= bpf;
    const what = dir === w.real ? 'the pin directory' : `a parent of the pin path ${abs}`;
    if (st.uid !== 0) throw new RuntimeError(`${dir} (${what}) is owned by uid ${st.uid}, not root: that user could remove quicsteer's pins; remove it or give another --pin-path`);
    const writable = (st.mode & 0o022) !== 0;
    if (writable && (strict || (st.mode & 0o1000) === 0))
      throw new RuntimeError(`${dir} (${what}) is writable by group or others (mode ${modeOf(st)}): they could replace quicsteer's pins; chmod go-w it or give another --pin-path`);
  }
}

/** Creates one directory 0700 root; an entry that appeared meanwhile must pass the same checks as any existing one. */
function mkdirPrivate(dir: string, abs: string): boolean {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotCreate(abs, e);
    const st = fs.lstatSync(dir);
    if (st.isSymbolicLink() || !st.isDirectory()) throw new RuntimeError(`${dir} appeared while quicsteer created it, and is not a directory: refusing it`);
    checkOwners({ real: dir, dirs: [{ dir, st }], missing: [] }, abs);
    return false;
  }
  fs.chmodSync(dir, 0o700);
  return true;
}

// ---- mountinfo

interface MountEntry {
  mountpoint: string;
  dev: string;
  fstype: string;
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

function mounts(file: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    // id parent major:minor root mountpoint options ... - fstype source superoptions
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    out.push({ mountpoint: unescape(f[4]!), dev: f[2]!, fstype: f[sep + 1]! });
  }
  return out;
}

/** The mount holding `p` in this process's namespace: the deepest mount point above it, the top one when stacked. */
function mountOf(p: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts('/proc/self/mountinfo')) if (under(p, m.mountpoint) && m.mountpoint.length >= (best?.mountpoint.length ?? 0)) best = m;
  return best;
}

/** The filesystem type of the mount holding `p` (the deepest mount point above it). */
export function fsTypeOf(p: string): string | undefined {
  return mountOf(p)?.fstype;
}

// ---- the `ip netns exec` trap

function sameMountNsAsInit(): boolean {
  try {
    return fs.readlinkSync('/proc/self/ns/mnt') === fs.readlinkSync('/proc/1/ns/mnt');
  } catch {
    return false; // PID 1's link may be unreadable even to root (seen on this platform): decide by devices
  }
}

/** The devices (major:minor) mounted in PID 1's namespace, or null when that cannot be read. */
function initDevices(): Set<string> | null {
  try {
    return new Set(mounts('/proc/1/mountinfo').map((m) => m.dev));
  } catch {
    return null;
  }
}

function trapMessage(abs: string, mountpoint: string): string {
  if (under(abs, pinEnv.bpffsRoot))
    return `${abs}: this mount namespace has its own ${pinEnv.bpffsRoot} (ip netns exec remounts /sys), so pins there vanish when the command exits; mount a bpffs outside /sys from the host namespace (mkdir -p /run/qs-<name> && mount -t bpf bpf /run/qs-<name>) and pass --pin-path /run/qs-<name>`;
  return `${abs}: the bpffs at ${mountpoint} would exist only in this private mount namespace (ip netns exec, or a systemd unit's sandbox?), so pins there vanish when the command exits; mount it from the host namespace (mkdir -p ${mountpoint} && mount -t bpf bpf ${mountpoint}) and run the command again`;
}

/** Refuses a pin path whose filesystem is not visible from PID 1's mount namespace: whatever is pinned there dies with this process. */
export function checkPinMountSurvives(pin: string): void {
  const abs = checkPinPath(pin);
  if (sameMountNsAsInit()) return;
  const init = initDevices();
  if (!init) return;
  let p = abs;
  while (!fs.existsSync(p)) p = path.dirname(p);
  const m = mountOf(fs.realpathSync(p));
  if (m && !init.has(m.dev)) throw new RuntimeError(trapMessage(abs, m.fstype === 'bpf' ? m.mountpoint : abs));
}

// ---- the record of quicsteer's own mounts: one root-only file per mount point, so concurrent commands never rewrite each other's

interface MountRecord {
  mountpoint: string;
  /** major:minor of the bpffs quicsteer mounted; a different one there now is not quicsteer's */
  dev: string;
  /** directories quicsteer created for the mount point, outermost first (removed again when empty) */
  created: string[];
}

const recordFile = (mountpoint: string) => path.join(pinEnv.mountRecord, `${createHash('sha256').update(mountpoint).digest('hex').slice(0, 32)}.json`);

function ensureRecordDir(): void {
  const w = walk(path.resolve(pinEnv.mountRecord));
  let cur = w.dirs[w.dirs.length - 1]!.dir;
  for (const c of w.missing) mkdirPrivate((cur = path.join(cur, c)), pinEnv.mountRecord);
  const st = fs.lstatSync(w.real);
  if (st.uid !== 0 || (st.mode & 0o077) !== 0) throw new RuntimeError(`${w.real} (quicsteer's record of its mounts) must be a root-only directory (0700); it is uid ${st.uid}, mode ${modeOf(st)}`);
}

function readRecord(mountpoint: string): MountRecord | null {
  let fd: number;
  try {
    fd = fs.openSync(recordFile(mountpoint), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.uid !== 0 || !st.isFile()) return null;
    const r = JSON.parse(fs.readFileSync(fd, 'utf8')) as MountRecord;
    return r.mountpoint === mountpoint && typeof r.dev === 'string' && Array.isArray(r.created) ? r : null;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

function writeRecord(r: MountRecord): void {
  ensureRecordDir();
  const file = recordFile(r.mountpoint);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeFileSync(fd, `${JSON.stringify(r)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function dropRecord(mountpoint: string): void {
  fs.rmSync(recordFile(mountpoint), { force: true });
}

// what the kernel's bpf_preload puts in every new bpffs root: not state, does not keep a mount alive
const PRELOADED = new Set(['maps.debug', 'progs.debug']);
const leftIn = (mountpoint: string) => fs.readdirSync(mountpoint).filter((f) => !PRELOADED.has(f));

/** The bpffs mounted exactly at `dir` (the top of a stack), as major:minor. */
function bpffsAt(dir: string): string | undefined {
  const top = mounts('/proc/self/mountinfo').filter((m) => m.mountpoint === dir).pop();
  return top?.fstype === 'bpf' ? top.dev : undefined;
}

function run(cmd: string, args: string[], what: string): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new RuntimeError(`${what}: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
  }
}

/**
 * Mounts a bpffs (root only, 0700) on `dir`: only on an empty directory owned by root and not
 * writable by others, and only when the mount outlives this command. Records it as quicsteer's.
 */
function mountBpffs(dir: string, created: string[], abs: string): void {
  const st = fs.lstatSync(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) throw cannotCreate(abs, Object.assign(new Error(), { code: 'ENOTDIR' }));
  if (st.uid !== 0) throw new RuntimeError(`${dir} is not a bpffs and is owned by uid ${st.uid}: quicsteer will not mount a bpffs over it; give another --pin-path`);
  if (fs.readdirSync(dir).length > 0)
    throw new RuntimeError(`${dir} is not a bpffs and is not empty: quicsteer will not mount a bpffs over it (that would hide its files); mount one yourself on an empty directory (mount -t bpf bpf <dir>) or give another --pin-path`);
  if ((st.mode & 0o022) !== 0 && !created.includes(dir))
    throw new RuntimeError(`${dir} is not a bpffs and is writable by others (mode ${modeOf(st)}): quicsteer will not mount a bpffs over it; give another --pin-path`);
  checkPinMountSurvives(abs);
  run('mount', ['-t', 'bpf', '-o', 'mode=0700', 'bpf', dir], `cannot mount bpffs on ${dir}`);
  const dev = bpffsAt(dir);
  try {
    if (!dev || !isBpf(dir)) throw new RuntimeError(`mounted a bpffs on ${dir} but cannot find it in /proc/self/mountinfo`);
    writeRecord({ mountpoint: dir, dev, created });
    checkPinMountSurvives(abs);
  } catch (e) {
    try {
      run('umount', [dir], `cannot unmount ${dir}`);
      dropRecord(dir);
    } catch {
      // leave the record: releasePinDir finds the mount by it later
    }
    throw e;
  }
}

/**
 * Makes the pin directory exist, 0700 root, on a bpffs that outlives the command. Mounts a bpffs on
 * the system root (/sys/fs/bpf) when the path is under it and none is there yet, or else on the pin
 * directory itself (which quicsteer creates, or finds empty); never over anything else.
 */
export function ensurePinDir(pin: string): void {
  const abs = checkPinPath(pin);
  const w = walk(abs);
  const real = w.real;
  checkOwners(w, abs);
  const existing = w.dirs[w.dirs.length - 1]!.dir;
  const created: string[] = [];
  const mkdirs = (comps: string[], from: string) => {
    let cur = from;
    for (const c of comps) {
      cur = path.join(cur, c);
      if (mkdirPrivate(cur, abs)) created.push(cur);
    }
  };
  try {
    if (isBpf(existing)) {
      checkPinMountSurvives(real);
      mkdirs(w.missing, existing);
      return;
    }
    const root = pinEnv.bpffsRoot;
    if (under(real, root)) {
      if (!under(existing, root)) throw new RuntimeError(`${root} does not exist here: mount a bpffs elsewhere (mkdir -p /run/qs && mount -t bpf bpf /run/qs) and pass --pin-path /run/qs`);
      if (existing !== root) throw new RuntimeError(`${existing} is not on a bpffs although it is under ${root}: quicsteer will not mount over it; give another --pin-path`);
      mountBpffs(root, [], abs);
      mkdirs(w.missing, root);
      return;
    }
    // outside the system root the pin directory itself becomes the mount point
    mkdirs(w.missing, existing);
    mountBpffs(real, created.slice(), abs);
  } catch (e) {
    for (const d of created.reverse()) {
      try {
        fs.rmdirSync(d);
      } catch {
        break;
      }
    }
    throw e instanceof RuntimeError || e instanceof UsageError ? e : cannotCreate(abs, e);
  }
}

/**
 * After the last pinned object under `pin` went: removes the pin directory when empty, and unmounts
 * the bpffs holding it when quicsteer mounted that one itself and nothing is left in it.
 */
export function releasePinDir(pin: string): void {
  const abs = checkPinPath(pin);
  const st = lstatOrNull(abs);
  if (st?.isDirectory() && !isMountRoot(abs, st) && fs.readdirSync(abs).length === 0) {
    try {
      fs.rmdirSync(abs);
    } catch (e) {
      if (!['ENOENT', 'ENOTEMPTY', 'EBUSY'].includes((e as NodeJS.ErrnoException).code!)) throw e;
    }
  }
  const mountpoint = under(abs, pinEnv.bpffsRoot) ? pinEnv.bpffsRoot : abs;
  const rec = readRecord(mountpoint);
  if (!rec) return;
  if (bpffsAt(mountpoint) !== rec.dev) {
    // not the bpffs quicsteer mounted (gone, or someone else's now): forget it, never touch it
    dropRecord(mountpoint);
    return;
  }
  if (leftIn(mountpoint).length > 0) return;
  run('umount', [mountpoint], `cannot unmount the bpffs quicsteer mounted on ${mountpoint}`);
  dropRecord(mountpoint);
  for (const d of rec.created.slice().reverse()) {
    try {
      fs.rmdirSync(d);
    } catch {
      break; // not empty, or gone: its parents stay too
    }
  }
}
