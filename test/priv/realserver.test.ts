// realserver setup/teardown as root, each in its own network namespace: one record per namespace,
// recorded before any change, never through a symlink, validated before teardown writes anything.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { privileged } from '../helpers/env.js';
import { Netns } from '../helpers/netns.js';
import { cli, SHIM, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const KEYS = ['all/arp_ignore', 'all/arp_announce', 'lo/arp_ignore', 'lo/arp_announce'];
const DEFAULT_DIR = '/run/quicsteer/realserver';

/** A namespace with distinctive sysctl values (so a restore to 0 would show) and what it looks like. */
class Rs extends Netns {
  constructor() {
    super('qs-rs');
    this.sh('sh', '-c', 'echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 1 > /proc/sys/net/ipv4/conf/all/arp_announce; echo 0 > /proc/sys/net/ipv4/conf/lo/arp_ignore; echo 1 > /proc/sys/net/ipv4/conf/lo/arp_announce');
  }
  sh(...cmd: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.name, ...cmd], { encoding: 'utf8' });
  }
  sysctls(): string[] {
    return this.sh('cat', ...KEYS.map((k) => `/proc/sys/net/ipv4/conf/${k}`)).trim().split('\n');
  }
  lo(): string[] {
    return (JSON.parse(this.ip('-j', 'addr', 'show', 'dev', 'lo')) as { addr_info: { local: string; prefixlen: number }[] }[])[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
  }
  snap() {
    return { lo: this.lo(), sysctls: this.sysctls() };
  }
  /** nsfs device and inode, as `stat -L` sees them from inside */
  id(): string {
    return this.sh('stat', '-L', '-c', '%d-%i', '/proc/self/ns/net').trim();
  }
  rs(...args: string[]): CliResult {
    return cli(['realserver', ...args], { ns: this.name });
  }
}

function withNs(n: number, fn: (...ns: Rs[]) => void | Promise<void>) {
  return async () => {
    const all: Rs[] = [];
    try {
      for (let i = 0; i < n; i++) all.push(new Rs());
      await fn(...all);
    } finally {
      for (const ns of all) {
        fs.rmSync(path.join(DEFAULT_DIR, `netns-${ns.id()}.json`), { force: true });
        ns.destroy();
      }
    }
  };
}

/** One error line starting "quicsteer: ", the exit code, nothing on stdout. */
function oneLine(t: ExecutionContext, r: CliResult, code: number, re: RegExp): void {
  t.is(r.code, code, r.stderr);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^quicsteer: [^\n]+\n$/);
  t.regex(r.stderr, re);
}

privileged('one record per network namespace: teardown in B leaves A its VIP, sysctls and record; --state of A refused in B', (t) =>
  withNs(2, (a, b) => {
    const beforeB = b.snap();
    t.is(a.rs('setup', '--vip', '198.51.100.10').code, 0);
    const afterA = a.snap();
    t.is(b.rs('setup', '--vip', '198.51.100.10', '198.51.100.20').code, 0);
    t.not(a.id(), b.id());
    const recA = path.join(DEFAULT_DIR, `netns-${a.id()}.json`);
    const recB = path.join(DEFAULT_DIR, `netns-${b.id()}.json`);
    t.true(fs.existsSync(recA) && fs.existsSync(recB), 'each namespace has its own record, named by its nsfs dev and inode');
    t.is(fs.statSync(DEFAULT_DIR).mode & 0o7777, 0o700);
    t.is(fs.statSync(recA).mode & 0o777, 0o600);

    const tb = b.rs('teardown', '--json');
    t.is(tb.code, 0, tb.stderr);
    t.like(JSON.parse(tb.stdout), { removed: ['198.51.100.10', '198.51.100.20'], gone: [], incomplete: false });
    t.deepEqual(b.snap(), beforeB, 'B is back as it was');
    t.deepEqual(a.snap(), afterA, "A's VIP and sysctls untouched by B's teardown");
    t.true(fs.existsSync(recA), "A's record untouched");
    t.is(b.rs('teardown').stdout, 'nothing to undo\n');

    // A's record named explicitly from B: refused, A's record and A itself untouched
    const before = fs.readFileSync(recA, 'utf8');
    oneLine(t, b.rs('teardown', '--state', recA), 1, /belongs to network namespace \d+:\d+, this is \d+:\d+: run this there, or give this namespace its own --state/);
    oneLine(t, b.rs('setup', '--vip', '198.51.100.30', '--state', recA), 1, /belongs to network namespace/);
    t.is(fs.readFileSync(recA, 'utf8'), before);
    t.deepEqual(b.snap(), beforeB, 'nothing changed in B');

    const ta = a.rs('teardown');
    t.is(ta.code, 0, ta.stderr);
    t.regex(ta.stdout, /lo: removed 198\.51\.100\.10\nrestored net\.ipv4\.conf\.all\.arp_ignore=0\nrestored net\.ipv4\.conf\.all\.arp_announce=1\n/);
    t.deepEqual(a.snap(), beforeB, 'A restored by its own teardown');
    t.false(fs.existsSync(recA));
  })(),
);

privileged('a record that cannot be written leaves everything unchanged: state file a directory, state directory read-only', (t) =>
  withNs(1, (ns) => {
    const dir = tempDir('qs-rs');
    const before = ns.snap();
    fs.mkdirSync(path.join(dir, 'rec.json'));
    oneLine(t, ns.rs('setup', '--vip', '198.51.100.10', '--state', path.join(dir, 'rec.json')), 1, /state file .*rec\.json is not a regular file/);
    t.deepEqual(ns.snap(), before);

    // a read-only bind mount in a mount namespace of its own (root ignores mode bits, not EROFS)
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro, { mode: 0o700 });
    const r = spawnSync('ip', ['netns', 'exec', ns.name, 'unshare', '-m', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', ro, process.execPath, SHIM, 'realserver', 'setup', '--vip', '198.51.100.10', '2001:db8::10', '--state', path.join(ro, 'rec.json')], { encoding: 'utf8', env: { ...process.env, QUICSTEER_DEBUG: '' } });
    oneLine(t, { code: r.status ?? -1, pid: r.pid, stdout: r.stdout, stderr: r.stderr }, 1, /cannot write state file .*ro\/rec\.json: EROFS: nothing was changed/);
    t.deepEqual(ns.snap(), before, 'no sysctl and no address changed');
    t.deepEqual(fs.readdirSync(ro), [], 'no temp file left');
  })(),
);

privileged('never through a symlink: a planted state-file symlink is refused and its target unchanged; unsafe directories refused', (t) =>
  withNs(1, (ns) => {
    const dir = tempDir('qs-rs');
    const victim = path.join(tempDir('qs-victim'), 'victim');
    fs.writeFileSync(victim, 'precious\n');
    const before = ns.snap();
    const link = path.join(dir, 'rec.json');
    fs.symlinkSync(victim, link);
    for (const args of [['setup', '--vip', '198.51.100.10'], ['teardown']]) oneLine(t, ns.rs(...args, '--state', link), 1, /state file .*rec\.json is a symlink: refusing to follow it/);
    t.is(fs.readFileSync(victim, 'utf8'), 'precious\n');
    t.true(fs.lstatSync(link).isSymbolicLink());

    // the default location planted with a symlink to /tmp/victim: same refusal
    const mine = path.join(DEFAULT_DIR, `netns-${ns.id()}.json`);
    fs.mkdirSync(DEFAULT_DIR, { recursive: true, mode: 0o700 });
    fs.symlinkSync(victim, mine);
    oneLine(t, ns.rs('setup', '--vip', '198.51.100.10'), 1, /is a symlink: refusing to follow it/);
    t.is(fs.readFileSync(victim, 'utf8'), 'precious\n');
    fs.rmSync(mine);

    // the directory: a symlink, owned by another user, group- or world-writable
    const real = path.join(dir, 'real');
    fs.mkdirSync(real, { mode: 0o700 });
    fs.symlinkSync(real, path.join(dir, 'dirlink'));
    oneLine(t, ns.rs('setup', '--vip', '198.51.100.10', '--state', path.join(dir, 'dirlink', 'rec.json')), 1, /state directory .*dirlink is a symlink: refusing to keep root's state there/);
    const theirs = path.join(dir, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o700 });
    fs.chownSync(theirs, 65534, 65534);
    oneLine(t, ns.rs('setup', '--vip', '198.51.100.10', '--state', path.join(theirs, 'rec.json')), 1, /state directory .*theirs is owned by uid 65534, not root/);
    const open = path.join(dir, 'open');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    oneLine(t, ns.rs('setup', '--vip', '198.51.100.10', '--state', path.join(open, 'rec.json')), 1, /state directory .*open is group- or world-writable \(mode 777\)/);
    fs.chmodSync(open, 0o770);
    oneLine(t, ns.rs('teardown', '--state', path.join(open, 'rec.json')), 1, /is group- or world-writable \(mode 770\)/);
    const under = path.join(theirs, 'sub');
    fs.mkdirSync(under, { mode: 0o700 });
    oneLine(t, ns.rs('setup', '--vip', '198.51.100.10', '--state', path.join(under, 'rec.json')), 1, /its parent .*theirs is owned by uid 65534, not root/);
    t.deepEqual(ns.snap(), before, 'nothing changed');
    t.deepEqual([fs.readdirSync(real), fs.readdirSync(theirs), fs.readdirSync(open), fs.readdirSync(under)], [[], ['sub'], [], []], 'nothing written');
  })(),
);

privileged('teardown refuses a record with a traversal key or any key beyond the four sysctls: one line naming the file, nothing written', (t) =>
  withNs(1, (ns) => {
    const dir = tempDir('qs-rs');
    const file = path.join(dir, 'rec.json');
    const x = `/tmp/qs-traversal-${process.pid}`;
    t.is(ns.rs('setup', '--vip', '198.51.100.10', '--state', file).code, 0);
    const after = ns.snap();
    const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as { sysctls: Record<string, string>; addresses: string[] };
    const plant = (o: object) => fs.writeFileSync(file, JSON.stringify({ ...rec, ...o }));
    const cases: [object, RegExp][] = [
      [{ sysctls: { ...rec.sysctls, [`../../../..${x}`]: '1' } }, /sysctls\.\.\.\/\.\.\/\.\.\/\.\.\/tmp\/qs-traversal-\d+: key "[^"]+" is not a sysctl setup changes/],
      [{ sysctls: { ...rec.sysctls, 'net/ipv4/ip_forward': '1' } }, /key "net\/ipv4\/ip_forward" is not a sysctl setup changes/],
      [{ sysctls: { ...rec.sysctls, 'net/ipv4/conf/all/arp_ignore': '1 2' } }, /not a small integer/],
      [{ addresses: ['198.51.100.10', '127.0.0.1'] }, /addresses\.1: "127\.0\.0\.1": a loopback address is not a VIP/],
      [{ addresses: ['dev eth0'] }, /not an IPv4 or IPv6 address/],
    ];
    for (const [o, re] of cases) {
      plant(o);
      const r = ns.rs('teardown', '--state', file);
      oneLine(t, r, 1, re);
      t.true(r.stderr.startsWith(`quicsteer: state file ${file} is not a realserver record (`), r.stderr);
      t.regex(r.stderr, /refusing it, nothing was changed; check it, then remove it\n$/);
      t.false(fs.existsSync(x), 'no file created through the traversal');
      t.deepEqual(ns.snap(), after, 'no sysctl written, no address removed');
    }
    plant({});
    t.is(ns.rs('teardown', '--state', file).code, 0);
  })(),
);

privileged('a corrupt record: one line naming the file and saying how to fix it, exit 1, nothing changed', (t) =>
  withNs(1, (ns) => {
    const file = path.join(tempDir('qs-rs'), 'rec.json');
    fs.writeFileSync(file, '{"version": 1, "addresses": [');
    const before = ns.snap();
    for (const args of [['setup', '--vip', '198.51.100.10'], ['teardown']])
      oneLine(t, ns.rs(...args, '--state', file), 1, new RegExp(`^quicsteer: state file ${file} is not valid JSON \\(.+\\): check it, then remove it; nothing was changed\\n$`));
    t.deepEqual(ns.snap(), before);
    t.is(fs.readFileSync(file, 'utf8'), '{"version": 1, "addresses": [');
  })(),
);

privileged('teardown of a half-complete record restores what was changed and skips an address already gone', (t) =>
  withNs(1, (ns) => {
    const file = path.join(tempDir('qs-rs'), 'rec.json');
    const before = ns.snap();
    t.is(ns.rs('setup', '--vip', '198.51.100.10', '198.51.100.11', '--state', file).code, 0);
    // as if setup had been killed: the record says incomplete, one address never made it (or was removed)
    const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as object;
    fs.writeFileSync(file, JSON.stringify({ ...rec, complete: false, addresses: ['198.51.100.10', '198.51.100.11', '198.51.100.12'] }));
    ns.ip('addr', 'del', '198.51.100.11/32', 'dev', 'lo');
    const r = ns.rs('teardown', '--state', file, '--json');
    t.is(r.code, 0, r.stderr);
    t.deepEqual(JSON.parse(r.stdout), {
      removed: ['198.51.100.10'],
      gone: ['198.51.100.11', '198.51.100.12'],
      restored: ['net.ipv4.conf.all.arp_ignore=0', 'net.ipv4.conf.all.arp_announce=1', 'net.ipv4.conf.lo.arp_ignore=0', 'net.ipv4.conf.lo.arp_announce=1'],
      incomplete: true,
    });
    t.deepEqual(ns.snap(), before);
    t.false(fs.existsSync(file));
  })(),
);

privileged('kill -9 during setup: every change made is already in the record, and teardown restores the namespace exactly', (t) =>
  withNs(1, async (ns) => {
    const file = path.join(tempDir('qs-rs'), 'rec.json');
    const vips = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`);
    const before = ns.snap();
    const run = (killAfter?: number) =>
      new Promise<number>((resolve) => {
        const start = Date.now();
        const p = spawn('ip', ['netns', 'exec', ns.name, process.execPath, SHIM, 'realserver', 'setup', '--vip', ...vips, '--state', file], { stdio: 'ignore' });
        const k = killAfter === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), killAfter);
        p.on('exit', () => (clearTimeout(k), resolve(Date.now() - start)));
      });
    const full = await run();
    t.is(ns.rs('teardown', '--state', file).code, 0);
    // kill at a random instant in [lo, hi], narrowed toward the window between intent and completion
    let [lo, hi, mid] = [0, full, 0];
    for (let i = 0; i < 20 && mid < 3; i++) {
      const at = Math.round(lo + Math.random() * (hi - lo));
      await run(at);
      await new Promise((r) => setTimeout(r, 150)); // an `ip addr add` running when its parent died finishes
      const now = ns.snap();
      const rec = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { complete: boolean; addresses: string[]; sysctls: Record<string, string> }) : undefined;
      const added = now.lo.filter((a) => !before.lo.includes(a)).map((a) => a.split('/')[0]!);
      const changed = KEYS.filter((_, j) => now.sysctls[j] !== before.sysctls[j]);
      if (added.length || changed.length) t.truthy(rec, 'changes were made, so there is a record');
      for (const a of added) t.true(rec!.addresses.includes(a), `${a} on lo is in the record`);
      for (const k of changed) t.is(rec!.sysctls[`net/ipv4/conf/${k}`], before.sysctls[KEYS.indexOf(k)], `${k}'s old value is in the record`);
      if (rec && !rec.complete && (added.length || changed.length)) mid++;
      else if (!rec) lo = at; // killed before the intent was written
      else if (rec.complete) hi = at; // setup had finished
      const td = ns.rs('teardown', '--state', file);
      t.is(td.code, 0, td.stderr);
      t.deepEqual(ns.snap(), before, 'teardown restored everything');
      t.deepEqual(fs.readdirSync(path.dirname(file)), [], 'record removed, temp files of killed writers swept');
    }
    t.log(`setup takes ${full} ms; ${mid} kill(s) landed between intent and completion`);
    t.true(mid > 0, 'at least one kill landed mid-change');
  })(),
);

privileged('concurrent setups in one namespace: one at a time, every VIP recorded, teardown removes them all', (t) =>
  withNs(1, async (ns) => {
    const file = path.join(tempDir('qs-rs'), 'rec.json');
    const before = ns.snap();
    const vips = Array.from({ length: 12 }, (_, i) => `198.51.100.${i + 1}`);
    const codes = await Promise.all(
      vips.map(
        (v) =>
          new Promise<number>((resolve) =>
            spawn('ip', ['netns', 'exec', ns.name, process.execPath, SHIM, 'realserver', 'setup', '--vip', v, '--state', file], { stdio: 'ignore' }).on('exit', (c) => resolve(c ?? -1)),
          ),
      ),
    );
    t.deepEqual(codes, vips.map(() => 0));
    const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as { addresses: string[]; sysctls: Record<string, string> };
    t.deepEqual([...rec.addresses].sort(), [...vips].sort(), 'no lost update');
    t.deepEqual(rec.sysctls, { 'net/ipv4/conf/all/arp_ignore': '0', 'net/ipv4/conf/all/arp_announce': '1', 'net/ipv4/conf/lo/arp_ignore': '0', 'net/ipv4/conf/lo/arp_announce': '1' });
    t.is(ns.rs('teardown', '--state', file).code, 0);
    t.deepEqual(ns.snap(), before);
  })(),
);

privileged('teardown with no record still sweeps the temp file of a setup killed while writing its first record', (t) =>
  withNs(1, async (ns) => {
    const file = path.join(tempDir('qs-rs'), 'rec.json');
    // what a writer killed between creating its temp file and renaming it leaves: no record, one temp file
    const dead = path.join(path.dirname(file), `.rec.json.${process.pid + 100000}.0123abcd.tmp`);
    fs.writeFileSync(dead, '{"partial":');
    const td = ns.rs('teardown', '--state', file);
    t.is(td.code, 0, td.stderr);
    t.deepEqual(fs.readdirSync(path.dirname(file)), []);
  })(),
);
