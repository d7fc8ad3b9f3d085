// Pin paths that cannot be turned against root (issue 11, findings 3, 4, 7): hostile, empty and pseudo-fs paths, foreign and
// symlinked pin directories, mounts quicsteer leaves behind, and the `ip netns exec` trap. Only private mounts are touched.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, lchownSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExecutionContext } from 'ava';
import { ObjectSpec } from '../../src/bpf/index.js';
import { checkPinMountSurvives, checkPinPath, ensurePinDir, fsTypeOf, pinEnv, releasePinDir } from '../../src/control/bpffs.js';
import { UsageError } from '../../src/control/errors.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { SHIM } from '../helpers/cli.js';
import { BPF_OBJ, ROOT, privileged } from '../helpers/env.js';
import { Netns, sh } from '../helpers/netns.js';
import { tempDir } from '../helpers/tmp.js';

const NOBODY = 65534;
const VIPS_ADD = ['vips', 'add', '192.0.2.10:443', '--cid', 'msquic'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** bpffs mount points seen, after the command, in the mount namespace it ran in */
  bpfMounts: string[];
}

/**
 * Runs quicsteer as a separate process with a time limit. `private: true` runs it in a private mount namespace
 * (unshare -m), so a mount the command should not make cannot reach the host even if it happens.
 */
function q(args: string[], o: { env?: Record<string, string>; cwd?: string; private?: boolean; ns?: string; timeoutMs?: number } = {}): Run {
  const mi = path.join(tempDir('qs-mi'), 'mountinfo');
  const limit = o.timeoutMs ?? 20_000;
  // timeout(1) kills quicsteer itself when it hangs (a kill of the wrapper alone would leave it spinning)
  const inner = ['sh', '-c', '"$@"; rc=$?; cat /proc/self/mountinfo > "$QS_MI"; exit $rc', 'sh', 'timeout', '-s', 'KILL', `${limit / 1000}`, process.execPath, SHIM, ...args];
  let cmd = inner;
  if (o.private) cmd = ['unshare', '-m', '--propagation', 'private', ...cmd];
  if (o.ns) cmd = ['ip', 'netns', 'exec', o.ns, ...cmd];
  const t0 = Date.now();
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, QUICSTEER_DEBUG: '', ...o.env, QS_MI: mi },
    cwd: o.cwd ?? '/',
    timeout: limit + 5_000,
    killSignal: 'SIGKILL',
  });
  const bpfMounts = existsSync(mi)
    ? readFileSync(mi, 'utf8')
        .split('\n')
        .filter((l) => l.includes(' - bpf '))
        .map((l) => l.split(' ')[4]!)
    : [];
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0, bpfMounts };
}

/** A tmpfs of the test's own on a temp dir (so nothing is created on the host's filesystems); unmounted with all below it. */
function withTmpfs(t: ExecutionContext, fn: (dir: string) => void): void {
  const dir = tempDir('qs-pinsafe');
  sh('mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', dir);
  try {
    fn(dir);
  } finally {
    sh('umount', '-R', '-l', dir);
    t.false(readFileSync('/proc/self/mounts', 'utf8').includes(dir), 'no mount left under the test dir');
  }
}

/** Runs fn with the system bpffs root and the mount record pointed at temp dirs; restores them. */
function withPinEnv<T>(env: Partial<typeof pinEnv>, fn: () => T): T {
  const saved = { ...pinEnv };
  Object.assign(pinEnv, env);
  try {
    return fn();
  } finally {
    Object.assign(pinEnv, saved);
  }
}

const oneLine = (t: ExecutionContext, r: Run, code: number, message: RegExp) => {
  t.is(r.code, code, r.stderr);
  t.is(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
  t.regex(r.stderr, message);
};

privileged('an empty pin path (QUICSTEER_PIN_PATH=) is refused, and nothing is mounted over the current directory', (t) => {
  const cwd = tempDir('qs-cwd');
  writeFileSync(path.join(cwd, 'keep'), 'x');
  const r = q(VIPS_ADD, { env: { QUICSTEER_PIN_PATH: '' }, cwd, private: true });
  t.is(r.code, 2, r.stderr);
  t.is(r.stderr, 'quicsteer: the pin path is empty (--pin-path or QUICSTEER_PIN_PATH): give an absolute directory, e.g. /sys/fs/bpf/quicsteer\n');
  t.deepEqual(r.bpfMounts.filter((m) => m === cwd), [], 'no bpffs on the current directory');
  t.deepEqual(readdirSync(cwd), ['keep']);
  t.throws(() => checkPinPath(''), { instanceOf: UsageError });
  t.throws(() => checkPinPath('  '), { instanceOf: UsageError });
});

privileged('a relative pin path is refused: nothing is created or mounted under the current directory', (t) => {
  const cwd = tempDir('qs-cwd');
  const r = q(['--pin-path', 'qs/pins', ...VIPS_ADD], { cwd, private: true });
  t.is(r.code, 2, r.stderr);
  t.is(r.stderr, "quicsteer: the pin path must be absolute, not 'qs/pins' (it would depend on the current directory)\n");
  t.deepEqual(readdirSync(cwd), []);
  t.deepEqual(r.bpfMounts.filter((m) => m.startsWith(cwd)), []);
  t.throws(() => checkPinPath('./x'), { instanceOf: UsageError });
});

privileged('a pin path under /proc is refused at once (it used to spin at 100% CPU in a recursive mkdir), also through a symlink', (t) => {
  for (const pin of ['/proc/quicsteer-test/pins', '/proc/self/qs', '/dev/fd/qs']) {
    const r = q(['--pin-path', pin, ...VIPS_ADD], { private: true, timeoutMs: 15_000 });
    t.not(r.code, 137, `${pin}: did not return within 15 s`);
    oneLine(t, r, 2, /^quicsteer: \/proc\/\S+: \/proc cannot hold pinned BPF objects; give a directory on a bpffs, e\.g\. \/sys\/fs\/bpf\/quicsteer\n$/);
    t.true(r.ms < 10_000, `${pin}: took ${r.ms} ms`);
  }
  t.throws(() => checkPinPath('/proc'), { instanceOf: UsageError });
});

privileged('pin paths under /sys other than /sys/fs/bpf/…, /, /sys/fs/bpf itself and .. components are refused with one line', (t) => {
  const r = q(['--pin-path', '/sys/class/net/quicsteer', ...VIPS_ADD], { private: true });
  oneLine(t, r, 2, /^quicsteer: \/sys\/class\/net\/quicsteer: the only place under \/sys for pinned BPF objects is a directory below \/sys\/fs\/bpf, e\.g\. \/sys\/fs\/bpf\/quicsteer\n$/);
  t.deepEqual(r.bpfMounts.filter((m) => m.startsWith('/sys/class')), []);
  for (const bad of ['/sys', '/sys/kernel/debug/qs', '/', '//', '/sys/fs/bpf', '/sys/fs/bpf/', '/run/a/../b', '/sys/fs/bpf/../../class/qs'])
    t.throws(() => checkPinPath(bad), { instanceOf: UsageError }, bad);
  t.is(checkPinPath('/sys/fs/bpf/quicsteer/'), '/sys/fs/bpf/quicsteer');
  t.is(checkPinPath('/run//qs-rs1/./'), '/run/qs-rs1');
});

privileged('a non-empty plain directory is not mounted over (its files stay visible); nor is an empty one another user owns', (t) => {
  withTmpfs(t, (dir) => {
    const data = path.join(dir, 'data');
    mkdirSync(data);
    writeFileSync(path.join(data, 'keep.txt'), 'still here');
    const r = q(['--pin-path', data, ...VIPS_ADD]);
    oneLine(t, r, 1, /is not a bpffs and is not empty: quicsteer will not mount a bpffs over it \(that would hide its files\)/);
    t.is(readFileSync(path.join(data, 'keep.txt'), 'utf8'), 'still here');
    t.is(fsTypeOf(data), 'tmpfs');

    const foreign = path.join(dir, 'foreign');
    mkdirSync(foreign, { mode: 0o755 });
    chownSync(foreign, NOBODY, NOBODY);
    const f = q(['--pin-path', foreign, ...VIPS_ADD]);
    oneLine(t, f, 1, /foreign \(the pin directory\) is owned by uid 65534, not root/);
    t.is(fsTypeOf(foreign), 'tmpfs');
  });
});

privileged('a pin directory pre-created by an unprivileged user in a 1777 bpffs is refused (they could delete the link pins)', (t) => {
  // a fresh bpffs has mode 1777, like the system's /sys/fs/bpf
  const fs = new TempBpffs();
  try {
    t.is(lstatSync(fs.dir).mode & 0o7777, 0o1777);
    const squat = fs.path('quicsteer');
    mkdirSync(squat, { mode: 0o755 });
    chownSync(squat, NOBODY, NOBODY);
    const r = q(['--pin-path', squat, ...VIPS_ADD]);
    oneLine(t, r, 1, new RegExp(`^quicsteer: ${squat} \\(the pin directory\\) is owned by uid 65534, not root: that user could remove quicsteer's pins; remove it or give another --pin-path\\n$`));
    t.deepEqual(readdirSync(squat), [], 'nothing pinned where that user can delete it');
    // the same with the system root pointed here, in-process
    withPinEnv({ bpffsRoot: fs.dir }, () => t.throws(() => ensurePinDir(squat), { message: /owned by uid 65534/ }));

    // root-owned but writable by others, as the pin directory or as a parent of it
    const shared = fs.path('shared');
    mkdirSync(shared);
    sh('chmod', '1777', shared);
    t.throws(() => ensurePinDir(shared), { message: /shared \(the pin directory\) is writable by group or others \(mode 01777\)/ });
    t.throws(() => ensurePinDir(path.join(shared, 'qs')), { message: /shared \(a parent of the pin path .*\) is writable by group or others/ });

    // what quicsteer creates itself: 0700 root, every level
    rmSync(squat, { recursive: true });
    ensurePinDir(fs.path('a', 'quicsteer'));
    for (const d of [fs.path('a'), fs.path('a', 'quicsteer')]) {
      const st = lstatSync(d);
      t.deepEqual([st.uid, st.mode & 0o7777], [0, 0o700], d);
    }
    ensurePinDir(fs.path('a', 'quicsteer')); // an existing one of root's is used as is
  } finally {
    fs.destroy();
  }
});

privileged('a symlinked pin directory is refused, and so is a symlink in the path that another user owns', (t) => {
  const fs = new TempBpffs();
  try {
    const target = fs.path('real');
    mkdirSync(target, { mode: 0o700 });
    symlinkSync(target, fs.path('quicsteer'));
    const r = q(['--pin-path', fs.path('quicsteer'), ...VIPS_ADD]);
    oneLine(t, r, 1, /quicsteer is a symlink: quicsteer does not follow one for its pin directory/);
    t.deepEqual(readdirSync(target), []);

    symlinkSync(target, fs.path('via'));
    lchownSync(fs.path('via'), NOBODY, NOBODY);
    t.throws(() => ensurePinDir(fs.path('via', 'qs')), { message: /via \(in the pin path .*\) is a symlink owned by uid 65534, not root/ });
    t.false(existsSync(path.join(target, 'qs')));
  } finally {
    fs.destroy();
  }
});

privileged('a bpffs quicsteer mounted is unmounted when the last state under it goes; one it did not mount never is', (t) => {
  withTmpfs(t, (dir) => {
    const record = path.join(dir, 'run', 'quicsteer', 'mounts');
    withPinEnv({ mountRecord: record, bpffsRoot: path.join(dir, 'sysbpf') }, () => {
      // outside the system root: the pin directory itself becomes the mount point, 0700 root, recorded
      const pin = path.join(dir, 'x', 'qs');
      ensurePinDir(pin);
      t.is(fsTypeOf(pin), 'bpf');
      t.deepEqual([lstatSync(pin).uid, lstatSync(pin).mode & 0o777], [0, 0o700]);
      t.is(lstatSync(record).mode & 0o777, 0o700);
      t.is(readdirSync(record).length, 1);
      const spec = ObjectSpec.open(BPF_OBJ, { pinRootPath: pin });
      spec.load().close();
      releasePinDir(pin);
      t.is(fsTypeOf(pin), 'bpf', 'state still pinned: the mount stays');
      for (const f of readdirSync(pin)) if (f.startsWith('qs_')) unlinkSync(path.join(pin, f));
      releasePinDir(pin);
      t.is(fsTypeOf(pin), 'tmpfs', 'unmounted after the last state went');
      t.false(existsSync(path.join(dir, 'x')), 'the directories it created are gone');
      t.deepEqual(readdirSync(record), [], 'record dropped');

      // under the system root (as /sys/fs/bpf before anything mounted it): the root is mounted, the pin dir made below
      const root = pinEnv.bpffsRoot;
      mkdirSync(root, { mode: 0o755 });
      ensurePinDir(path.join(root, 'quicsteer'));
      t.is(fsTypeOf(root), 'bpf');
      t.deepEqual(lstatSync(path.join(root, 'quicsteer')).mode & 0o777, 0o700);
      releasePinDir(path.join(root, 'quicsteer'));
      t.is(fsTypeOf(root), 'tmpfs');
      t.true(existsSync(root), 'a mount point quicsteer found is left in place');

      // a bpffs the user mounted: empty after release, and still mounted
      const own = path.join(dir, 'own');
      mkdirSync(own);
      sh('mount', '-t', 'bpf', 'bpf', own);
      ensurePinDir(own);
      releasePinDir(own);
      t.is(fsTypeOf(own), 'bpf');

      // a record whose mount was replaced by something else: dropped, that mount untouched
      const pin2 = path.join(dir, 'y');
      ensurePinDir(pin2);
      t.is(readdirSync(record).length, 1);
      sh('umount', pin2);
      sh('mount', '-t', 'tmpfs', 'tmpfs', pin2);
      releasePinDir(pin2);
      t.is(fsTypeOf(pin2), 'tmpfs');
      t.deepEqual(readdirSync(record), []);
      // a directory left inside keeps quicsteer's own mount up
      const pin3 = path.join(dir, 'z');
      ensurePinDir(pin3);
      mkdirSync(path.join(pin3, 'someone-elses'));
      releasePinDir(pin3);
      t.is(fsTypeOf(pin3), 'bpf');
      t.is(readdirSync(record).length, 1, 'still recorded, for a later release');
    });
  });
});

privileged('`ip netns exec` with the default pin path is refused with the fix, instead of printing success and keeping nothing', (t) => {
  const ns = new Netns('qs-pin');
  const fs = new TempBpffs();
  try {
    // /sys is private under ip netns exec: a bpffs on its /sys/fs/bpf dies with the command
    const r = q(VIPS_ADD, { ns: ns.name });
    oneLine(t, r, 1, /^quicsteer: \/sys\/fs\/bpf\/quicsteer: this mount namespace has its own \/sys\/fs\/bpf \(ip netns exec remounts \/sys\), so pins there vanish when the command exits; mount a bpffs outside \/sys from the host namespace \(mkdir -p \/run\/qs-<name> && mount -t bpf bpf \/run\/qs-<name>\) and pass --pin-path \/run\/qs-<name>\n$/);
    t.deepEqual(r.bpfMounts.filter((m) => m.startsWith('/sys')), [], 'nothing mounted, even privately');
    // a bpffs mounted in the host namespace works from inside
    const ok = q(['--pin-path', fs.dir, ...VIPS_ADD], { ns: ns.name });
    t.is(ok.code, 0, ok.stderr);
    t.true(existsSync(fs.path('qs_vips')));

    // in-process, under ip netns exec: a mount quicsteer would make, and one made there, do not survive
    const dir = tempDir('qs-trap');
    const sysroot = path.join(dir, 'sysbpf');
    mkdirSync(sysroot);
    const script = path.join(dir, 'trap.mjs');
    writeFileSync(
      script,
      `import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
const m = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'build/dist/src/control/bpffs.js')).href)});
const [sysroot, record, hostBpffs, priv] = process.argv.slice(2);
Object.assign(m.pinEnv, { bpffsRoot: sysroot, mountRecord: record });
const res = {};
const attempt = (k, fn) => { try { fn(); res[k] = 'ok'; } catch (e) { res[k] = e.message; } };
attempt('ensureUnderRoot', () => m.ensurePinDir(sysroot + '/quicsteer'));
attempt('ensureOutside', () => m.ensurePinDir(priv + '/qs'));
mkdirSync(priv + '/mine');
execFileSync('mount', ['-t', 'bpf', 'bpf', priv + '/mine']);
attempt('survivesPrivate', () => m.checkPinMountSurvives(priv + '/mine'));
attempt('survivesHost', () => m.checkPinMountSurvives(hostBpffs));
res.bpfMounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\\n').filter((l) => l.includes(' - bpf ')).map((l) => l.split(' ')[4]);
console.log(JSON.stringify(res));
`,
    );
    const priv = path.join(dir, 'priv');
    mkdirSync(priv);
    const record = path.join(dir, 'record');
    const out = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, script, sysroot, record, fs.dir, priv], { encoding: 'utf8', timeout: 20_000 });
    t.is(out.status, 0, out.stderr);
    const res = JSON.parse(out.stdout) as Record<string, string | string[]>;
    t.regex(res.ensureUnderRoot as string, /sysbpf\/quicsteer: this mount namespace has its own .*sysbpf .*and pass --pin-path \/run\/qs-<name>$/);
    t.regex(res.ensureOutside as string, /priv\/qs: the bpffs at .*priv\/qs would exist only in this private mount namespace \(ip netns exec, or a systemd unit.s sandbox\?\).*mount -t bpf bpf /);
    t.regex(res.survivesPrivate as string, /mine: the bpffs at .*mine would exist only in this private mount namespace/);
    t.is(res.survivesHost, 'ok');
    t.deepEqual((res.bpfMounts as string[]).filter((p) => p.startsWith(dir)), [path.join(priv, 'mine')], 'the refused mounts were undone');
    t.false(existsSync(path.join(priv, 'qs')), 'the directory made for the refused mount is gone');
    t.deepEqual(existsSync(record) ? readdirSync(record) : [], [], 'no record of a mount that was undone');
    t.is(fsTypeOf(sysroot), fsTypeOf(dir), 'nothing mounted in the host namespace');
    // in this (the host's) namespace the same paths survive
    t.notThrows(() => checkPinMountSurvives(fs.dir));
  } finally {
    fs.destroy();
    ns.destroy();
  }
});
