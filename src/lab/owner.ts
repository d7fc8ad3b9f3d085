// Who owns what the lab creates, and the sweep of what dead owners left (kill -9 skips every cleanup).
// Each lab resource is named `qs-…-<owner pid>-<random>` and, as root, is first written to the owner's
// record /run/quicsteer/lab/<pid>.<start time> (start time: /proc/<pid>/stat field 22, so a reused pid
// is not taken for the owner). The sweep removes only what a record or a lab name ties to a dead owner.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const LAB_RECORDS = '/run/quicsteer/lab';

/** One thing a lab owner created: a namespace, a bpffs mount (on a temp dir), a temp dir, a child process. */
export type LabEntry = { kind: 'netns'; name: string } | { kind: 'bpffs'; path: string } | { kind: 'dir'; path: string } | { kind: 'proc'; pid: number; start: string };

export interface SweepReport {
  /** dead owners whose leftovers were found (pids) */
  owners: number[];
  namespaces: string[];
  mounts: string[];
  /** processes killed (pids) */
  processes: number[];
  dirs: string[];
}

// the lab's names: a `qs` prefix, the owner's pid, then netns' 6 hex digits or mkdtemp's 6 characters
const NETNS_NAME = /^qs(?:-[a-z0-9]+)*-(\d+)-[0-9a-f]{6}$/;
const DIR_NAME = /^qs(?:-[a-z0-9]+)*-(\d+)-[A-Za-z0-9]{6}$/;
const RECORD_NAME = /^(\d+)\.(\d+)(?:\.sweep-(\d+)\.(\d+))?$/;

const isRoot = process.getuid?.() === 0;

/** A live process's start time (clock ticks since boot), or undefined when it is gone or a zombie. */
export function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: fields count from the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[0] === 'Z' || f[0] === 'X' ? undefined : f[19];
  } catch {
    return undefined;
  }
}

const alive = (pid: number, start?: string) => {
  const s = procStart(pid);
  return s !== undefined && (start === undefined || s === start);
};

const me = { pid: process.pid, start: procStart(process.pid) ?? '0' };
const myRecord = path.join(LAB_RECORDS, `${me.pid}.${me.start}`);
let recording = isRoot;
let sweptOnce = false;
let exitHook = false;

/**
 * Writes an entry to this process's record before the thing is created (best effort: names carry the
 * pid anyway). The first claim of a process sweeps first: every lab start cleans up after dead ones.
 */
export function claim(e: LabEntry): void {
  if (!sweptOnce) sweep();
  if (!recording) return;
  try {
    mkdirSync(LAB_RECORDS, { recursive: true, mode: 0o700 });
    appendFileSync(myRecord, `${JSON.stringify(e)}\n`, { mode: 0o600 });
    if (!exitHook) {
      // registered at first use, so after the lab modules' own exit handlers (registered at import):
      // a clean exit has removed everything by the time this drops the record
      exitHook = true;
      process.on('exit', () => rmSync(myRecord, { force: true }));
    }
  } catch {
    recording = false;
  }
}

/** Records a child process the lab started (its start time guards against pid reuse). */
export function claimChild(c: ChildProcess): void {
  if (c.pid === undefined) return;
  const start = procStart(c.pid);
  if (start !== undefined) claim({ kind: 'proc', pid: c.pid, start });
}

/** Removes what dead lab owners left: their processes, bpffs mounts, namespaces and temp dirs. Root only. */
export function sweep(): SweepReport {
  sweptOnce = true;
  const r: SweepReport = { owners: [], namespaces: [], mounts: [], processes: [], dirs: [] };
  if (!isRoot) return r;
  const owners = new Set<number>();
  const ns = new Set<string>();
  const mounts = new Set<string>();
  const dirs = new Set<string>();
  const procs: { pid: number; start: string }[] = [];
  const claimed: string[] = [];

  // 1. records of dead owners (and of sweepers that died midway), each claimed by an atomic rename
  let records: string[] = [];
  try {
    records = readdirSync(LAB_RECORDS);
  } catch {
    /* no lab ran as root since boot */
  }
  for (const f of records) {
    const m = RECORD_NAME.exec(f);
    if (!m) continue;
    const [pid, start] = [Number(m[1]), m[2]!];
    if (pid === me.pid || alive(pid, start) || (m[3] && alive(Number(m[3]), m[4]))) continue;
    const mine = path.join(LAB_RECORDS, `${pid}.${start}.sweep-${me.pid}.${me.start}`);
    try {
      renameSync(path.join(LAB_RECORDS, f), mine);
    } catch {
      continue; // another sweeper took it
    }
    claimed.push(mine);
    owners.add(pid);
    for (const line of readFileSync(mine, 'utf8').split('\n')) {
      let e: LabEntry;
      try {
        e = JSON.parse(line) as LabEntry;
      } catch {
        continue; // an entry cut short by the kill
      }
      // a record is root's, but only names the lab gives (with this owner's pid) are acted on
      const ours = (name: string, re: RegExp) => Number(re.exec(name)?.[1]) === pid;
      if (e.kind === 'netns' && ours(e.name, NETNS_NAME)) ns.add(e.name);
      else if (e.kind === 'bpffs' && inTmp(e.path) && ours(path.basename(e.path), DIR_NAME)) mounts.add(e.path);
      else if (e.kind === 'dir' && inTmp(e.path) && ours(path.basename(e.path), DIR_NAME)) dirs.add(e.path);
      else if (e.kind === 'proc' && Number.isInteger(e.pid) && typeof e.start === 'string') procs.push({ pid: e.pid, start: e.start });
    }
  }

  // 2. lab names whose owner pid is dead, without a record (a run before records, or not as root)
  const deadByName = (name: string, re: RegExp) => {
    const pid = Number(re.exec(name)?.[1]);
    return pid > 0 && pid !== me.pid && !alive(pid) ? pid : undefined;
  };
  for (const name of netnsList()) {
    const pid = deadByName(name, NETNS_NAME);
    if (pid) ns.add(name), owners.add(pid);
  }
  for (const p of bpfMounts()) {
    const pid = inTmp(p) ? deadByName(path.basename(p), DIR_NAME) : undefined;
    if (pid) mounts.add(p), owners.add(pid);
  }
  for (const name of readdirSafe(os.tmpdir())) {
    const p = path.join(os.tmpdir(), name);
    const pid = deadByName(name, DIR_NAME);
    if (pid && rootsDir(p)) dirs.add(p), owners.add(pid);
  }

  // 3. processes: every one inside those namespaces, and the recorded ones still the same process
  const victims = new Set<number>();
  for (const name of ns) for (const pid of netnsPids(name)) victims.add(pid);
  for (const p of procs) if (alive(p.pid, p.start)) victims.add(p.pid);
  victims.delete(me.pid);
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
      r.processes.push(pid);
    } catch {
      /* gone already */
    }
  }
  // a killed process may still hold a mount busy (cwd, open pin) for a moment
  const until = Date.now() + 2000;
  while ([...victims].some((p) => alive(p)) && Date.now() < until) execFileSync('sleep', ['0.02']);

  // 4. mounts, then namespaces, then dirs
  const mounted = new Set(bpfMounts());
  for (const m of mounts) {
    let n = 0;
    while (mounted.has(m) && n++ < 8) {
      if (!run('umount', m)) run('umount', '-l', m);
      mounted.clear();
      for (const x of bpfMounts()) mounted.add(x);
    }
    if (n > 0) r.mounts.push(m);
  }
  const present = new Set(netnsList());
  for (const name of ns) if (present.has(name) && run('ip', 'netns', 'delete', name)) r.namespaces.push(name);
  const mountPoints = allMounts();
  for (const d of dirs) {
    // never remove through a mount still up (any filesystem, at or under the dir)
    if (mountPoints.some((m) => m === d || m.startsWith(`${d}/`)) || !rootsDir(d)) continue;
    rmSync(d, { recursive: true, force: true });
    r.dirs.push(d);
  }
  for (const c of claimed) rmSync(c, { force: true });
  r.owners = [...owners].sort((a, b) => a - b);
  return r;
}

/** One line for people: what the sweep removed, or that nothing was left. */
export function describeSweep(r: SweepReport): string {
  const n = r.namespaces.length + r.mounts.length + r.processes.length + r.dirs.length;
  if (!n) return 'swept: nothing left by earlier runs';
  const pl = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
  return `swept what earlier runs left (dead owner pid ${r.owners.join(', ')}): ${pl(r.namespaces.length, 'namespace')}, ${pl(r.mounts.length, 'bpffs mount')}, ${pl(r.processes.length, 'process', 'processes')}, ${pl(r.dirs.length, 'temp dir')}`;
}

function run(cmd: string, ...args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function netnsList(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter(Boolean);
  } catch {
    return [];
  }
}

function netnsPids(name: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Mount points in this mount namespace, with their filesystem type. */
function mountTable(): { at: string; type: string }[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 2)
    .map((f) => ({ at: f[1]!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), type: f[2]! }));
}

const allMounts = () => mountTable().map((m) => m.at);
const bpfMounts = () => mountTable().filter((m) => m.type === 'bpf').map((m) => m.at);

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

const inTmp = (p: string) => path.dirname(p) === os.tmpdir();

/** A real directory (not a symlink) owned by root: what a root lab run made. */
function rootsDir(p: string): boolean {
  try {
    const st = lstatSync(p);
    return st.isDirectory() && st.uid === 0;
  } catch {
    return false;
  }
}
