// A real systemd as PID 1 of its own PID, mount, UTS, IPC, network and cgroup namespaces, so units
// (quicsteer.service) run under systemd on a host whose PID 1 is not systemd, and touch nothing of
// the host: its /run, /tmp, /var/tmp and /dev are its own tmpfs, /etc, /var and /usr/local are
// overlays with a tmpfs on top, /proc/sys is read-only, its cgroups live below one cgroup of ours.
// It loads units only from /run/qs-units (SYSTEMD_UNIT_PATH: its own target, journald, the real
// definitions of the targets a service's default dependencies name, the tests' units and drop-ins)
// and from /usr/local/lib/systemd/system (what `make install` puts there); nothing else starts.
// stop() (and process exit, and the lab sweep after a kill -9) leaves no process, mount, cgroup or file.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { claim, procStart } from '../../src/lab/owner.js';
import { ROOT } from './paths.js';
import { tempDir } from './tmp.js';

/** Where the namespace's systemd loads units from (inside its mount namespace). */
export const UNIT_DIR = '/run/qs-units';
/** Where `make install` puts units (in its /usr/local overlay): loaded too. */
const INSTALLED_UNIT_DIR = '/usr/local/lib/systemd/system';
const TARGET = 'qs-test.target';
// the real definitions of what a service's default dependencies and quicsteer.service name, and journald
const SYSTEM_UNITS = ['systemd-journald.service', 'systemd-journald.socket', 'sysinit.target', 'basic.target', 'sockets.target', 'shutdown.target', 'network.target', 'network-online.target', 'multi-user.target'];
const SYSTEM_UNIT_DIRS = ['/lib/systemd/system', '/usr/lib/systemd/system'];
const SYSTEMD = ['/lib/systemd/systemd', '/usr/lib/systemd/systemd'].find((p) => fs.existsSync(p)) ?? '/lib/systemd/systemd';
const CG_NAME = /^qs-sd-(\d+)-[0-9a-f]{6}$/;

// Runs inside the new namespaces as their PID 1, then execs systemd: $1 temp dir, $2 checkout, then netns names.
const INNER = String.raw`set -eu
T=$1; ROOT=$2; shift 2
# until unshare has left our cgroup (the cgroup namespace's root holds systemd alone, as delegated)
i=0; while [ ! -e "$T/go" ]; do i=$((i+1)); [ $i -lt 500 ] || exit 1; sleep 0.02; done
P=$T/priv
mount -t tmpfs -o mode=0700 qs-priv "$P"
# what the tmpfs below would hide: the test's netns files, and the checkout if it lives there
for ns in "$@"; do touch "$P/netns-$ns"; mount --bind "/run/netns/$ns" "$P/netns-$ns"; done
case "$ROOT/" in /tmp/*|/var/tmp/*|/run/*) mkdir "$P/checkout"; mount --rbind "$ROOT" "$P/checkout";; esac
# drop our copies of other mounts there (other tests' netns and bpffs): they would keep those alive
for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E '^/(tmp|var/tmp|run)/' | sort -r); do
  case "$m" in "$P"|"$P"/*) ;; *) umount -l "$m" 2>/dev/null || true;; esac
done
# no bpffs: the unit's ExecStartPre mounts one in this namespace, the one its PID 1 lives in
while mountpoint -q /sys/fs/bpf; do umount -l /sys/fs/bpf; done
# systemd raises host-wide sysctls (fs.nr_open, fs.file-max) when it can write them
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
# cgroup2 rooted at our cgroup (cgroup namespace): its slices and scopes go below it
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for d in etc var usrlocal; do mkdir -p "$P/$d/up" "$P/$d/work"; done
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$P/etc/up,workdir=$P/etc/work" /etc
mount -t overlay overlay -o "lowerdir=/var,upperdir=$P/var/up,workdir=$P/var/work" /var
mount -t overlay overlay -o "lowerdir=/usr/local,upperdir=$P/usrlocal/up,workdir=$P/usrlocal/work" /usr/local
# the shipped unit's ExecStart, as scripts/setup.sh links it, to this checkout
mkdir -p /usr/local/bin
ln -sfn "$ROOT/scripts/quicsteer.mjs" /usr/local/bin/quicsteer
# /dev: the usual nodes, a console that is a file of ours
mkdir "$P/dev"
mount -t tmpfs -o mode=0755,nosuid qs-dev "$P/dev"
for n in null zero full random urandom tty; do touch "$P/dev/$n"; mount --bind "/dev/$n" "$P/dev/$n"; done
mkdir "$P/dev/pts" "$P/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$P/dev/pts"
ln -s pts/ptmx "$P/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev qs-shm "$P/dev/shm"
ln -s /proc/self/fd "$P/dev/fd"
ln -s /proc/self/fd/0 "$P/dev/stdin"
ln -s /proc/self/fd/1 "$P/dev/stdout"
ln -s /proc/self/fd/2 "$P/dev/stderr"
touch "$P/dev/console"
mount --bind "$T/console.log" "$P/dev/console"
mount --move "$P/dev" /dev
mount -t tmpfs -o mode=0755,nosuid,nodev qs-run /run
mkdir -p /run/netns ${UNIT_DIR}
for ns in "$@"; do touch "/run/netns/$ns"; mount --move "$P/netns-$ns" "/run/netns/$ns"; done
cp -R "$T/units/." ${UNIT_DIR}/
# files the units need at boot (in the overlays), with their modes
cp -R --preserve=mode "$T/files/." /
# the checkout waits in the new /run while /tmp and /var/tmp are covered ($P is under /tmp), then goes to its own path
if [ -d "$P/checkout" ]; then mkdir /run/.qs-checkout; mount --move "$P/checkout" /run/.qs-checkout; fi
mount -t tmpfs -o mode=1777,nosuid,nodev qs-tmp /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev qs-vartmp /var/tmp
if [ -d /run/.qs-checkout ]; then mkdir -p "$ROOT"; mount --move /run/.qs-checkout "$ROOT"; rmdir /run/.qs-checkout; fi
export container=quicsteer-test SYSTEMD_UNIT_PATH=${UNIT_DIR}:${INSTALLED_UNIT_DIR}
exec ${SYSTEMD} --system --unit=${TARGET} --show-status=no </dev/null >/dev/console 2>&1
`;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

// Systemds still running when the process exits (a test that died midway) are removed then.
const live = new Set<Systemd>();
process.on('exit', () => {
  for (const s of live) s.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The cgroup2 mount of this host (hybrid: /sys/fs/cgroup/unified; unified: /sys/fs/cgroup). */
function cgroup2Mount(): string {
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = l.split(' ');
    const dash = f.indexOf('-');
    if (dash > 0 && f[dash + 1] === 'cgroup2') return f[4]!;
  }
  throw new Error('no cgroup2 hierarchy is mounted: a systemd of its own needs one');
}

/** Kills every process in a cgroup subtree and removes it, leaves first. */
function removeCgroup(dir: string): void {
  if (!fs.existsSync(dir)) return;
  try {
    fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1'); // Linux >= 5.14
  } catch {
    /* older kernels: the walk below kills them */
  }
  const end = Date.now() + 10_000;
  for (;;) {
    const dirs = [dir];
    for (let i = 0; i < dirs.length; i++)
      for (const e of fs.readdirSync(dirs[i]!, { withFileTypes: true })) if (e.isDirectory()) dirs.push(path.join(dirs[i]!, e.name));
    let left = 0;
    for (const d of dirs)
      for (const pid of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        left++;
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
    if (!left) {
      try {
        for (const d of dirs.reverse()) fs.rmdirSync(d);
        return;
      } catch (e) {
        // a task that just exited may keep its cgroup busy for a moment
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > end) throw e;
      }
    }
    if (Date.now() > end) throw new Error(`processes in ${dir} survive SIGKILL`);
    execFileSync('sleep', ['0.05']);
  }
}

/** Removes the cgroups of test processes that died without stopping their systemd (kill -9). */
function sweepCgroups(root: string): void {
  for (const name of fs.readdirSync(root)) {
    const pid = Number(CG_NAME.exec(name)?.[1]);
    if (pid && pid !== process.pid && procStart(pid) === undefined) removeCgroup(path.join(root, name));
  }
}

export class Systemd {
  /** systemd's pid, as this process sees it */
  readonly pid: number;
  /** its temp dir (units, console log) and its cgroup, both removed by stop() */
  readonly dir: string;
  readonly cgroup: string;

  private constructor(pid: number, dir: string, cgroup: string) {
    this.pid = pid;
    this.dir = dir;
    this.cgroup = cgroup;
  }

  /**
   * Boots a systemd of its own and waits until it is running (its boot jobs done). `netns`: network
   * namespaces (names under /run/netns) its units may join with NetworkNamespacePath=/run/netns/<name>.
   * `wants`: units its boot target pulls in besides journald; `units` (name -> text, or {link} for a
   * symlink, e.g. a .wants/ entry) and `files` (absolute path -> text and mode) are there at boot.
   */
  static async start(o: { netns?: string[]; wants?: string[]; units?: Record<string, string | { link: string }>; files?: Record<string, { text: string; mode: number }> } = {}): Promise<Systemd> {
    const dir = tempDir('qs-sd');
    const units = path.join(dir, 'units');
    fs.mkdirSync(units);
    fs.mkdirSync(path.join(dir, 'priv'));
    fs.mkdirSync(path.join(dir, 'files'));
    fs.writeFileSync(path.join(dir, 'console.log'), '');
    fs.writeFileSync(path.join(units, TARGET), `[Unit]\nDescription=quicsteer test: journald${o.wants?.length ? ` and ${o.wants.join(' ')}` : ''}, nothing else\nWants=systemd-journald.socket ${(o.wants ?? []).join(' ')}\n`);
    for (const [name, u] of Object.entries(o.units ?? {})) {
      fs.mkdirSync(path.dirname(path.join(units, name)), { recursive: true });
      if (typeof u === 'string') fs.writeFileSync(path.join(units, name), u);
      else fs.symlinkSync(u.link, path.join(units, name));
    }
    for (const [p, f] of Object.entries(o.files ?? {})) {
      const at = path.join(dir, 'files', p);
      fs.mkdirSync(path.dirname(at), { recursive: true });
      fs.writeFileSync(at, f.text, { mode: f.mode });
      fs.chmodSync(at, f.mode);
    }
    for (const u of SYSTEM_UNITS) {
      const src = SYSTEM_UNIT_DIRS.map((d) => path.join(d, u)).find((p) => fs.existsSync(p));
      if (!src) throw new Error(`${u} not found in ${SYSTEM_UNIT_DIRS.join(' or ')}`);
      fs.symlinkSync(src, path.join(units, u));
    }
    const cgRoot = cgroup2Mount();
    sweepCgroups(cgRoot);
    const cgroup = path.join(cgRoot, `qs-sd-${process.pid}-${randomBytes(3).toString('hex')}`);
    // <cgroup>/payload is the root of its cgroup namespace; unshare waits in <cgroup>, outside it
    const payload = path.join(cgroup, 'payload');
    fs.mkdirSync(payload, { recursive: true });
    let sd: Systemd | undefined;
    try {
      const log = fs.openSync(path.join(dir, 'unshare.log'), 'a');
      // the shell joins the payload cgroup, then becomes unshare, whose child is the namespaces' PID 1
      const p = spawn(
        'sh',
        ['-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', path.join(payload, 'cgroup.procs'), 'unshare', '--pid', '--fork', '--mount-proc', '--mount', '--uts', '--ipc', '--net', '--cgroup', '--propagation', 'private', 'sh', '-c', INNER, 'qs-sd-init', dir, ROOT, ...(o.netns ?? [])],
        { detached: true, stdio: ['ignore', log, log] },
      );
      fs.closeSync(log);
      p.unref();
      let pid: number | undefined;
      let moved = false;
      // 30 s: a full run's other test workers load this 2-vCPU machine (10 s once ran out with nothing logged)
      const end = Date.now() + 30_000;
      while (!pid) {
        if (Date.now() > end || p.exitCode !== null)
          throw new Error(`systemd did not start (${p.exitCode !== null ? `unshare exited ${p.exitCode}` : 'no PID 1 within 30 s'}): ${fs.readFileSync(path.join(dir, 'unshare.log'), 'utf8')}`);
        await sleep(20);
        try {
          const child = Number(fs.readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').trim().split(' ')[0]);
          if (!child) continue;
          if (!moved) {
            // the child has its cgroup namespace: unshare leaves the payload, then the child goes on
            fs.writeFileSync(path.join(cgroup, 'cgroup.procs'), String(p.pid));
            fs.writeFileSync(path.join(dir, 'go'), '');
            moved = true;
          }
          if (fs.readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'systemd') pid = child;
        } catch {
          /* not there yet */
        }
      }
      const start = procStart(pid);
      if (start) claim({ kind: 'proc', pid, start });
      sd = new Systemd(pid, dir, cgroup);
      live.add(sd);
      await sd.until('systemd running', () => ['running', 'degraded'].includes(sd!.run('systemctl', ['is-system-running']).stdout.trim()), 30_000);
      const state = sd.run('systemctl', ['is-system-running']).stdout.trim();
      if (state !== 'running') throw new Error(`systemd is ${state}: ${sd.run('systemctl', ['--failed', '--no-legend']).stdout}`);
      return sd;
    } catch (e) {
      if (sd) sd.stop();
      else removeCgroup(cgroup);
      throw e;
    }
  }

  /** A command run inside its mount and PID namespaces (and optionally a network namespace, by path). */
  run(cmd: string, args: string[], o: { net?: string; input?: string; timeoutMs?: number } = {}): RunResult {
    const ns = ['-t', String(this.pid), '-m', '-p', ...(o.net ? [`--net=${o.net}`] : [])];
    const r = spawnSync('nsenter', [...ns, '--', cmd, ...args], {
      encoding: 'utf8',
      input: o.input ?? '',
      timeout: o.timeoutMs ?? 30_000,
      env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0', QUICSTEER_DEBUG: '' },
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  }

  systemctl(...args: string[]): RunResult {
    return this.run('systemctl', ['--no-pager', ...args], { timeoutMs: 90_000 });
  }

  /** `systemctl show -p` of a unit, as a record. */
  show(unit: string, ...props: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const l of this.systemctl('show', '-p', props.join(','), unit).stdout.split('\n')) {
      const i = l.indexOf('=');
      if (i > 0) out[l.slice(0, i)] = l.slice(i + 1);
    }
    return out;
  }

  /** A unit's journal, its messages only, one per line. */
  journal(unit: string, since?: string): string[] {
    const r = this.run('journalctl', ['--no-pager', '-o', 'cat', '-u', unit, ...(since ? ['--since', since] : [])]);
    return r.stdout.split('\n').filter((l) => l !== '' && l !== '-- No entries --');
  }

  /** A path of its mount namespace, seen from here. */
  path(p: string): string {
    return `/proc/${this.pid}/root${p}`;
  }

  writeFile(p: string, content: string, mode = 0o644): void {
    fs.mkdirSync(path.dirname(this.path(p)), { recursive: true });
    fs.writeFileSync(this.path(p), content, { mode });
    fs.chmodSync(this.path(p), mode);
  }

  /** Installs unit files (name -> content; a name with a '/' is a drop-in) and reloads. */
  addUnits(units: Record<string, string>): void {
    for (const [name, text] of Object.entries(units)) this.writeFile(path.join(UNIT_DIR, name), text);
    const r = this.systemctl('daemon-reload');
    if (r.code !== 0) throw new Error(`daemon-reload: ${r.stderr}`);
  }

  async until(what: string, ok: () => boolean, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(100);
    }
  }

  /** What to show when a test failed: its journal's tail and its console. */
  diagnostics(): string {
    const j = this.run('journalctl', ['--no-pager', '-o', 'short-precise', '-n', '150']);
    let con = '';
    try {
      con = fs.readFileSync(path.join(this.dir, 'console.log'), 'utf8').slice(-4000);
    } catch {
      /* removed */
    }
    return `journal (last 150):\n${j.stdout}${j.stderr}\nconsole:\n${con}`;
  }

  /** SIGKILL to everything in its cgroup (systemd, its units, unshare), then its cgroups and files go; its mounts die with its namespace. */
  stop(): void {
    if (!live.delete(this)) return;
    removeCgroup(this.cgroup);
    // killed, it waits a moment as a zombie for its reaper (unshare was killed too: the host's init)
    const end = Date.now() + 5000;
    while (fs.existsSync(`/proc/${this.pid}`) && Date.now() < end) execFileSync('sleep', ['0.02']);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
