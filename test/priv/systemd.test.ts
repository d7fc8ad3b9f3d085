// The systemd side: `make install` puts the unit where it belongs (idempotent, DESTDIR; under a systemd
// as PID 1 it reloads it, and systemd-analyze verify passes there), and a real systemd of the test's own
// (test/helpers/systemd.ts) runs a Type=notify service through the addon's sdNotify, then the shipped
// unit with the real agent: readiness, reload, stop, restarts, capabilities, its bpffs, boot and reboot.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { privileged } from '../helpers/env.js';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { Netns } from '../helpers/netns.js';
import { Systemd } from '../helpers/systemd.js';

const UNIT = path.join(ROOT, 'contrib/systemd/quicsteer.service');
const KIT_HEADER = path.join(ROOT, 'native/include/quicsteer/cid.h');

/** Runs fn with a systemd of its own; on failure its journal goes to the test's log. */
async function withSystemd(t: ExecutionContext, o: Parameters<typeof Systemd.start>[0], fn: (sd: Systemd) => Promise<void>): Promise<void> {
  const sd = await Systemd.start(o);
  try {
    await fn(sd);
  } catch (e) {
    t.log(sd.diagnostics());
    throw e;
  } finally {
    sd.stop();
  }
}

function make(args: string[]): { code: number; out: string } {
  const r = spawnSync('make', ['--no-print-directory', '-C', ROOT, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Every file under dir (relative), with its mode and, for links, the target. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      const rel = path.relative(dir, p);
      if (e.isDirectory()) {
        out[`${rel}/`] = (st.mode & 0o7777).toString(8);
        walk(p);
      } else out[rel] = e.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : `${(st.mode & 0o7777).toString(8)} ${fs.readFileSync(p, 'utf8').length}`;
    }
  };
  walk(dir);
  return out;
}

/** The header files a C compile of `#include <quicsteer/cid.h>` with -I<include> reads (cc -M), or null if it fails. */
function kitIncludes(include: string): string[] | null {
  const r = spawnSync('cc', ['-std=c99', '-M', `-I${include}`, '-x', 'c', '-'], { input: '#include <quicsteer/cid.h>\n', encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split(/[\s\\]+/).filter((f) => f.endsWith('cid.h')) : null;
}

privileged('make install puts the command, the unit, /etc/quicsteer and the CID kit header in place; twice is the same; quicsteer.json is never touched; uninstall removes only what install added', (t) => {
  const dest = tempDir('qs-sd-install');
  const first = make(['install', `DESTDIR=${dest}`]);
  t.is(first.code, 0, first.out);
  t.false(/daemon-reload/.test(first.out));
  const want = {
    'etc/': '755',
    'etc/quicsteer/': '755',
    'etc/quicsteer/quicsteer.json.example': `644 ${fs.readFileSync(path.join(ROOT, 'contrib/quicsteer.json.example'), 'utf8').length}`,
    'usr/': '755',
    'usr/local/': '755',
    'usr/local/bin/': '755',
    'usr/local/bin/quicsteer': `-> ${path.join(ROOT, 'scripts/quicsteer.mjs')}`,
    'usr/local/lib/': '755',
    'usr/local/lib/systemd/': '755',
    'usr/local/lib/systemd/system/': '755',
    'usr/local/lib/systemd/system/quicsteer.service': `644 ${fs.readFileSync(UNIT, 'utf8').length}`,
    'usr/local/include/quicsteer/': '755',
    'usr/local/include/quicsteer/cid.h': `644 ${fs.readFileSync(KIT_HEADER, 'utf8').length}`,
  };
  const strip = (o: Record<string, string>) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => !['etc/', 'usr/', 'usr/local/', 'usr/local/lib/', 'usr/local/lib/systemd/', 'usr/local/include/'].includes(k)));
  t.deepEqual(strip(tree(dest)), strip(want));
  t.regex(first.out, /next: write \/etc\/quicsteer\/quicsteer\.json/);
  // a C server's #include <quicsteer/cid.h> finds the installed header
  const include = path.join(dest, 'usr/local/include');
  t.deepEqual(kitIncludes(include), [path.join(include, 'quicsteer/cid.h')]);

  // the operator's file: a second install leaves it, and says nothing more
  const mine = '{"localId":"0001"}\n';
  fs.writeFileSync(path.join(dest, 'etc/quicsteer/quicsteer.json'), mine, { mode: 0o600 });
  const second = make(['install', `DESTDIR=${dest}`]);
  t.is(second.code, 0, second.out);
  t.notRegex(second.out, /next:/);
  t.is(fs.readFileSync(path.join(dest, 'etc/quicsteer/quicsteer.json'), 'utf8'), mine);
  t.deepEqual(strip(tree(dest)), { ...strip(want), 'etc/quicsteer/quicsteer.json': `600 ${mine.length}` });

  const un = make(['uninstall', `DESTDIR=${dest}`]);
  t.is(un.code, 0, un.out);
  t.deepEqual(
    Object.keys(tree(dest)).filter((k) => !k.endsWith('/')),
    ['etc/quicsteer/quicsteer.json'],
    'the operator file stays, everything install added is gone',
  );
  t.false(fs.existsSync(path.join(include, 'quicsteer')), 'include/quicsteer is gone');
  // control: the compile no longer reads a header from the staged tree
  t.false((kitIncludes(include) ?? []).some((f) => f.startsWith(dest)));
  t.is(make(['uninstall', `DESTDIR=${dest}`]).code, 0, 'uninstall twice');
});

// a Type=notify service that is ready 1.5 s after it starts, through the addon; SIGHUP: RELOADING=1, 1 s, READY=1
const NOTIFY_JS = `import { native } from '${ROOT}/build/dist/src/bpf/native.js';
const n = native();
console.log('starting');
setTimeout(() => console.log('sdNotify READY: ' + n.sdNotify('READY=1\\nSTATUS=serving')), 1500);
process.on('SIGHUP', () => {
  n.sdNotify('RELOADING=1\\nSTATUS=reloading');
  console.log('reloading');
  setTimeout(() => { n.sdNotify('READY=1\\nSTATUS=serving again'); console.log('reloaded'); }, 1000);
});
process.on('SIGTERM', () => { console.log('stopping'); process.exit(0); });
setInterval(() => {}, 1 << 30);
`;

privileged("a systemd of the test's own: a Type=notify service is active only once the addon's sdNotify sent READY=1; status text, reload, stop; nothing left afterwards", async (t) => {
  t.timeout(90_000);
  let pid = 0;
  let dir = '';
  let cgroup = '';
  await withSystemd(t, {}, async (sd) => {
    ({ pid, dir, cgroup } = sd);
    t.is(sd.run('cat', ['/proc/1/comm']).stdout.trim(), 'systemd', 'systemd is PID 1 of its namespace');
    sd.writeFile('/run/qs-notify/notify.mjs', NOTIFY_JS);
    sd.addUnits({
      'qs-notify.service': `[Service]\nType=notify\nExecStart=${process.execPath} /run/qs-notify/notify.mjs\nExecReload=/bin/kill -HUP $MAINPID\n`,
    });
    const t0 = Date.now();
    const start = sd.systemctl('start', 'qs-notify.service');
    const took = Date.now() - t0;
    t.is(start.code, 0, start.stderr);
    t.true(took >= 1400, `systemctl start returned after ${took} ms, before READY=1`);
    t.deepEqual(sd.show('qs-notify.service', 'ActiveState', 'SubState', 'StatusText', 'Type'), { Type: 'notify', ActiveState: 'active', SubState: 'running', StatusText: 'serving' });
    await sd.until('the READY line in the journal', () => sd.journal('qs-notify.service').includes('sdNotify READY: true'), 5000);
    t.log(`systemctl start returned after ${took} ms (READY=1 sent at 1500 ms)`);

    // systemd 252 waits for READY=1 only when RELOADING=1 reached it before ExecReload's kill exited (a
    // race: 253's Type=notify-reload fixes it); else the reload job ends at once and RELOADING=1 shows as the state
    const r0 = Date.now();
    t.is(sd.systemctl('reload', 'qs-notify.service').code, 0);
    const reloadMs = Date.now() - r0;
    t.log(`systemctl reload returned after ${reloadMs} ms (READY=1 after 1000 ms)`);
    const seen = new Set<string>();
    await sd.until('serving again', () => {
      const s = sd.show('qs-notify.service', 'ActiveState', 'StatusText');
      seen.add(`${s.ActiveState}: ${s.StatusText}`);
      return s.StatusText === 'serving again';
    }, 5000);
    t.true(reloadMs >= 950 || seen.has('reloading: reloading'), `reload waited for READY=1, or RELOADING=1 showed as ActiveState reloading (seen: ${[...seen].join(', ')})`);
    t.is(sd.show('qs-notify.service', 'ActiveState').ActiveState, 'active');
    t.true(sd.journal('qs-notify.service').includes('reloaded'));

    t.is(sd.systemctl('stop', 'qs-notify.service').code, 0);
    t.is(sd.show('qs-notify.service', 'ActiveState').ActiveState, 'inactive');
    await sd.until('the stop line', () => sd.journal('qs-notify.service').includes('stopping'), 5000);
  });
  t.false(fs.existsSync(`/proc/${pid}`), 'systemd is gone');
  t.false(fs.existsSync(cgroup), 'its cgroups are gone');
  t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), 'no mount of it here');
  t.false(fs.existsSync(dir), 'its temp dir is gone');
  t.false(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes('/run/qs-notify/notify.mjs'), 'no process of it left');
});

privileged("make install under systemd as PID 1 (a systemd of the test's own): installs, reloads systemd, which loads the unit from /usr/local/lib/systemd/system; systemd-analyze verify passes; uninstall disables and removes it", async (t) => {
  t.timeout(90_000);
  await withSystemd(t, {}, async (sd) => {
    const install = sd.run('make', ['--no-print-directory', '-C', ROOT, 'install', 'V=1']);
    t.is(install.code, 0, `${install.stdout}${install.stderr}`);
    t.regex(install.stdout, /^systemctl daemon-reload$/m, 'systemd is PID 1 here: install reloads it');
    t.deepEqual(sd.show('quicsteer.service', 'LoadState', 'FragmentPath', 'NeedDaemonReload'), { LoadState: 'loaded', FragmentPath: '/usr/local/lib/systemd/system/quicsteer.service', NeedDaemonReload: 'no' });
    t.is(fs.readlinkSync(sd.path('/usr/local/bin/quicsteer')), path.join(ROOT, 'scripts/quicsteer.mjs'));
    t.true(fs.statSync(sd.path('/etc/quicsteer')).isDirectory());
    t.is(fs.readFileSync(sd.path('/usr/local/include/quicsteer/cid.h'), 'utf8'), fs.readFileSync(KIT_HEADER, 'utf8'));
    // every command of the unit exists here (ExecStart is the link install made), every dependency loads
    const verify = sd.run('systemd-analyze', ['verify', '/usr/local/lib/systemd/system/quicsteer.service']);
    t.is(verify.code, 0, `${verify.stdout}${verify.stderr}`);
    t.is(`${verify.stdout}${verify.stderr}`.trim(), '', 'systemd-analyze verify: no warning');
    t.is(sd.run('make', ['--no-print-directory', '-C', ROOT, 'install']).code, 0, 'install twice');

    const enable = sd.systemctl('enable', 'quicsteer.service');
    t.is(enable.code, 0, enable.stderr);
    const wants = sd.path('/etc/systemd/system/multi-user.target.wants/quicsteer.service');
    t.is(fs.readlinkSync(wants), '/usr/local/lib/systemd/system/quicsteer.service', `enabled: ${enable.stdout}${enable.stderr}`);
    const un = sd.run('make', ['--no-print-directory', '-C', ROOT, 'uninstall', 'V=1']);
    t.is(un.code, 0, `${un.stdout}${un.stderr}`);
    t.regex(un.stdout, /systemctl disable --now quicsteer\.service/);
    t.is(sd.show('quicsteer.service', 'LoadState').LoadState, 'not-found');
    t.false(fs.existsSync(sd.path('/usr/local/lib/systemd/system/quicsteer.service')));
    t.false(fs.existsSync(sd.path('/usr/local/include/quicsteer')));
    t.throws(() => fs.lstatSync(wants), { code: 'ENOENT' }, 'disabled');
  });
});


// ---- the shipped unit running the real agent, in a systemd of the test's own, on the test's netns

const CONFIG = {
  localId: '0a0b',
  interfaces: [{ name: 'eth0' }],
  vips: [{ address: '198.51.100.10:4433', cid: 'quic-lb:sid=2,nonce=6' }],
  servers: [
    { id: '0a0b', mac: '02:00:00:00:00:01' },
    { id: '0c0d', mac: '02:00:00:00:00:02' },
  ],
};

interface AgentLab {
  sd: Systemd;
  ns: Netns;
  /** quicsteer run in the systemd's mount namespace and the test's netns */
  qs: (...args: string[]) => { code: number; stdout: string; stderr: string };
  /** the agent's own journal lines (its stdout), with their priority */
  agentLines: () => { msg: string; priority: string }[];
  pins: () => string[];
  /** the mounts of the systemd's (PID 1's) namespace */
  pid1Mounts: () => string;
}

/** The test's netns (a veth pair) and a systemd with quicsteer installed by make install, the file written, a drop-in joining the netns. */
async function withAgent(t: ExecutionContext, dropIn: string, fn: (lab: AgentLab) => Promise<void>): Promise<void> {
  const ns = new Netns('qs-sd');
  try {
    ns.veth('eth0', 'eth1');
    await withSystemd(t, { netns: [ns.name] }, async (sd) => {
      const install = sd.run('make', ['--no-print-directory', '-C', ROOT, 'install']);
      if (install.code !== 0) throw new Error(`make install: ${install.stdout}${install.stderr}`);
      sd.writeFile('/etc/quicsteer/quicsteer.json', `${JSON.stringify(CONFIG, null, 2)}\n`, 0o600);
      sd.addUnits({ 'quicsteer.service.d/test.conf': `[Service]\nNetworkNamespacePath=${ns.path}\n${dropIn}` });
      await fn({
        sd,
        ns,
        qs: (...args) => sd.run('quicsteer', args, { net: ns.path }),
        agentLines: () =>
          sd
            .run('journalctl', ['--no-pager', '-o', 'json', '-u', 'quicsteer.service'])
            .stdout.split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { MESSAGE: string; PRIORITY: string; SYSLOG_IDENTIFIER?: string })
            .filter((e) => e.SYSLOG_IDENTIFIER === 'quicsteer')
            .map((e) => ({ msg: e.MESSAGE, priority: e.PRIORITY })),
        pins: () => (fs.existsSync(sd.path('/sys/fs/bpf/quicsteer')) ? fs.readdirSync(sd.path('/sys/fs/bpf/quicsteer')).sort() : []),
        pid1Mounts: () => sd.run('cat', ['/proc/1/mountinfo']).stdout,
      });
    });
  } finally {
    ns.destroy();
  }
}

const bpffsAtSys = (mountinfo: string) => mountinfo.split('\n').some((l) => / \/sys\/fs\/bpf .* - bpf /.test(l));

privileged('the shipped unit runs the agent: active only once the file is applied and attached; reload, file change, stop (the data path and the pins stay, in PID 1\'s bpffs), restart after kill -9; one journal line per event; the agent holds exactly CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN', async (t) => {
  t.timeout(110_000);
  await withAgent(t, '', async ({ sd, ns, qs, agentLines, pins, pid1Mounts }) => {
    t.false(bpffsAtSys(pid1Mounts()), 'no bpffs at /sys/fs/bpf before the start (as in a container)');
    t.is(ns.xdpProgId('eth0'), undefined);

    const t0 = Date.now();
    const start = sd.systemctl('start', 'quicsteer.service');
    t.is(start.code, 0, start.stderr);
    t.log(`systemctl start returned after ${Date.now() - t0} ms`);
    // when start returns the file is applied: attached, tables as the file says
    const prog = ns.xdpProgId('eth0');
    t.truthy(prog, 'XDP program attached when systemctl start returns');
    const st = JSON.parse(qs('status', '--json').stdout) as { localId: string; warnings: string[]; servers: unknown[]; vips: unknown[] };
    t.is(st.localId, '0a0b');
    t.deepEqual(st.warnings, []);
    t.is(st.servers.length, 2);
    const shown = sd.show('quicsteer.service', 'ActiveState', 'SubState', 'StatusText', 'MainPID', 'NRestarts');
    t.like(shown, { ActiveState: 'active', SubState: 'running', NRestarts: '0' });
    t.regex(shown.StatusText!, /^ready: \/etc\/quicsteer\/quicsteer\.json applied, metrics http:\/\/127\.0\.0\.1:9915\/metrics$/);
    t.true(bpffsAtSys(pid1Mounts()), "ExecStartPre mounted the bpffs in PID 1's namespace");
    const pinned = pins();
    t.true(pinned.includes(`link-${ns.ip('-j', 'link', 'show', 'eth0').match(/"ifindex":(\d+)/)![1]}`) && pinned.includes('qs_servers'), pinned.join(' '));

    // the capabilities it runs with: exactly the bounding set, nothing ambient
    const status = sd.run('cat', [`/proc/${shown.MainPID}/status`]).stdout;
    const caps = Object.fromEntries([...status.matchAll(/^(Cap\w+|NoNewPrivs):\s*(\S+)$/gm)].map((m) => [m[1], m[2]]));
    const want = ((1n << 39n) | (1n << 21n) | (1n << 12n)).toString(16).padStart(16, '0');
    t.deepEqual(caps, { CapInh: '0'.repeat(16), CapPrm: want, CapEff: want, CapBnd: want, CapAmb: '0'.repeat(16), NoNewPrivs: '1' });

    // the metrics listener works in the sandbox (its default address, in the netns the unit joined)
    const scrape = spawnSync('nsenter', [`--net=${ns.path}`, 'curl', '-sf', 'http://127.0.0.1:9915/metrics'], { encoding: 'utf8' });
    t.is(scrape.status, 0, scrape.stderr);
    t.regex(scrape.stdout, /^quicsteer_\w+/m);

    // reload: SIGHUP, an apply with nothing to change
    const until = (what: string, re: RegExp) => sd.until(what, () => agentLines().some((l) => re.test(l.msg)), 10_000);
    t.is(sd.systemctl('reload', 'quicsteer.service').code, 0);
    await until('the reload line', /^info: no changes \(SIGHUP\), generation 1$/);
    await sd.until('active after the reload', () => sd.show('quicsteer.service', 'ActiveState').ActiveState === 'active', 5000);

    // a file change: applied by the agent's watch, no systemctl involved
    sd.writeFile('/etc/quicsteer/quicsteer.json', `${JSON.stringify({ ...CONFIG, servers: [...CONFIG.servers, { id: '0e0f', mac: '02:00:00:00:00:03', state: 'drain' }] }, null, 2)}\n`, 0o600);
    await until('the file change', /^info: applied \(file changed\), generation 2: \+ server 0e0f 02:00:00:00:00:03 drain$/);
    t.is((JSON.parse(qs('status', '--json').stdout) as { servers: unknown[] }).servers.length, 3);

    // stop: the agent exits, the data path and the pins stay (the bpffs is PID 1's, not the sandbox's)
    t.is(sd.systemctl('stop', 'quicsteer.service').code, 0);
    t.like(sd.show('quicsteer.service', 'ActiveState', 'Result'), { ActiveState: 'inactive', Result: 'success' });
    t.is(ns.xdpProgId('eth0'), prog, 'the same program stays attached');
    t.deepEqual(pins(), pinned, 'the pins stay');
    t.deepEqual((JSON.parse(qs('status', '--json').stdout) as { warnings: string[] }).warnings, []);

    // start again, then kill -9: Restart=on-failure brings it back, and the data path never went
    t.is(sd.systemctl('start', 'quicsteer.service').code, 0);
    const main1 = sd.show('quicsteer.service', 'MainPID').MainPID!;
    t.is(sd.run('kill', ['-9', main1]).code, 0);
    await sd.until('restarted', () => {
      const s = sd.show('quicsteer.service', 'ActiveState', 'MainPID', 'NRestarts');
      return s.ActiveState === 'active' && s.NRestarts === '1' && s.MainPID !== main1 && s.MainPID !== '0';
    }, 20_000);
    t.is(ns.xdpProgId('eth0'), prog);
    t.true(sd.journal('quicsteer.service').some((l) => /Main process exited, code=killed, status=9\/KILL/.test(l)));

    // one line per event from the agent, at its syslog priority (info = 6)
    const lines = agentLines();
    t.log(lines.map((l) => `<${l.priority}> ${l.msg}`).join('\n'));
    const expected = [
      /^info: starting: \/etc\/quicsteer\/quicsteer\.json, pin path \/sys\/fs\/bpf\/quicsteer$/,
      /^info: applied \(start\), generation 1: \+ local id 0a0b; \+ vip 198\.51\.100\.10:4433 quic-lb:sid=2,nonce=6; \+ server 0a0b 02:00:00:00:00:01 up; \+ server 0c0d 02:00:00:00:00:02 up; \+ attach eth0 \(native\)$/,
      /^info: ready: /,
      /^info: no changes \(SIGHUP\), generation 1$/,
      /^info: applied \(file changed\), generation 2: /,
      /^info: SIGTERM: stopped; the data path stays attached \(1 interface\(s\), generation 2\)$/,
      /^info: starting: /,
      /^info: no changes \(start\), generation 2$/,
      /^info: ready: /,
      /^info: starting: /,
      /^info: no changes \(start\), generation 2$/,
      /^info: ready: /,
    ];
    t.is(lines.length, expected.length, lines.map((l) => l.msg).join('\n'));
    expected.forEach((re, i) => t.regex(lines[i]?.msg ?? '', re));
    t.true(lines.every((l) => l.priority === '6' && !l.msg.includes('\n')));
  });
});

privileged('the shipped unit without its bpffs mount (ExecStartPre emptied): the agent, in its private mount namespace, refuses to pin where the pins would vanish, and starts nothing', async (t) => {
  t.timeout(60_000);
  await withAgent(t, 'ExecStartPre=\nRestart=no\n', async ({ sd, ns, agentLines, pins, pid1Mounts }) => {
    const start = sd.systemctl('start', 'quicsteer.service');
    t.not(start.code, 0);
    t.like(sd.show('quicsteer.service', 'ActiveState', 'Result'), { ActiveState: 'failed', Result: 'exit-code' });
    const lines = agentLines();
    t.log(lines.map((l) => `<${l.priority}> ${l.msg}`).join('\n'));
    // no mount(2) in the sandbox (its system call filter has no @mount): the mount quicsteer tries is refused
    t.true(lines.some((l) => l.priority === '3' && /^error: start failed, nothing changed: cannot mount bpffs on \/sys\/fs\/bpf: /.test(l.msg)), lines.map((l) => l.msg).join('\n'));
    t.is(ns.xdpProgId('eth0'), undefined);
    t.deepEqual(pins(), []);
    t.false(bpffsAtSys(pid1Mounts()));
  });
});

privileged('the shipped unit with CAP_SYS_ADMIN dropped from its bounding set: the agent refuses at start, naming it, and attaches nothing (CAP_BPF and CAP_PERFMON do not stand in for it)', async (t) => {
  t.timeout(60_000);
  await withAgent(t, 'CapabilityBoundingSet=\nCapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON\nRestart=no\n', async ({ sd, ns, agentLines, pins }) => {
    t.not(sd.systemctl('start', 'quicsteer.service').code, 0);
    t.is(sd.show('quicsteer.service', 'ActiveState').ActiveState, 'failed');
    const out = sd.journal('quicsteer.service').join('\n');
    t.regex(out, /agent needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN \(missing CAP_SYS_ADMIN\)/);
    t.deepEqual(agentLines().filter((l) => /applied/.test(l.msg)), []);
    t.is(ns.xdpProgId('eth0'), undefined);
    t.deepEqual(pins(), []);
  });
});

privileged('a drop-in for --detach-on-exit --log-format json (what README suggests): stop detaches the program and removes the pins; every agent line in the journal is one JSON object', async (t) => {
  t.timeout(60_000);
  const dropIn = 'ExecStart=\nExecStart=/usr/local/bin/quicsteer agent -f /etc/quicsteer/quicsteer.json --detach-on-exit --log-format json\n';
  await withAgent(t, dropIn, async ({ sd, ns, agentLines, pins }) => {
    t.is(sd.systemctl('start', 'quicsteer.service').code, 0);
    t.truthy(ns.xdpProgId('eth0'));
    t.true(pins().length > 0);
    t.is(sd.systemctl('stop', 'quicsteer.service').code, 0);
    t.is(ns.xdpProgId('eth0'), undefined, 'detached');
    t.deepEqual(pins(), [], 'pins removed');
    const events = agentLines().map((l) => JSON.parse(l.msg) as { event: string; level: string });
    t.deepEqual(
      events.map((e) => e.event),
      ['starting', 'applied', 'ready', 'stopped'],
    );
  });
});

privileged('Restart=on-failure: a start that fails (an interface not there yet, as a late NIC at boot) is retried until it converges; a file that cannot be applied ends in the start limit, the running data path untouched', async (t) => {
  t.timeout(100_000);
  await withAgent(t, '', async ({ sd, ns, agentLines }) => {
    sd.writeFile('/etc/quicsteer/quicsteer.json', `${JSON.stringify({ ...CONFIG, interfaces: [{ name: 'late0' }] })}\n`, 0o600);
    sd.systemctl('start', '--no-block', 'quicsteer.service');
    const failed = () => agentLines().filter((l) => l.priority === '3' && /^error: start failed, nothing changed: no interface 'late0'/.test(l.msg)).length;
    await sd.until('the first failed start', () => failed() >= 1, 15_000);
    ns.veth('late0', 'late1');
    await sd.until('active', () => sd.show('quicsteer.service', 'ActiveState').ActiveState === 'active', 20_000);
    t.truthy(ns.xdpProgId('late0'));
    t.true(Number(sd.show('quicsteer.service', 'NRestarts').NRestarts) >= 1);
    t.is(sd.systemctl('stop', 'quicsteer.service').code, 0);

    // not JSON: every start fails (exit 2); after five in a minute systemd stops trying
    sd.writeFile('/etc/quicsteer/quicsteer.json', '{"localId": "0a0b",\n', 0o600);
    t.not(sd.systemctl('start', 'quicsteer.service').code, 0);
    await sd.until('the start limit', () => sd.journal('quicsteer.service').some((l) => l === 'quicsteer.service: Start request repeated too quickly.'), 45_000);
    const end = sd.show('quicsteer.service', 'ActiveState', 'ExecMainStatus', 'NRestarts');
    t.like(end, { ActiveState: 'failed', ExecMainStatus: '2' });
    await new Promise((r) => setTimeout(r, 6000)); // past RestartSec: no more attempts
    t.is(sd.show('quicsteer.service', 'NRestarts').NRestarts, end.NRestarts);
    t.truthy(ns.xdpProgId('late0'), 'the data path the last good file set up stays');
  });
});

privileged('boot and reboot: enabled (its multi-user.target.wants link), the unit is part of the boot and systemd is running only once the agent is ready; a reboot loses the pins and the program, the next boot brings the same state back', async (t) => {
  t.timeout(90_000);
  const ns = new Netns('qs-sd');
  try {
    ns.veth('eth0', 'eth1');
    // what `make install` and `systemctl enable quicsteer` leave on disk, there before boot
    const boot = {
      netns: [ns.name],
      wants: ['multi-user.target'],
      units: {
        'quicsteer.service': fs.readFileSync(UNIT, 'utf8'),
        'quicsteer.service.d/test.conf': `[Service]\nNetworkNamespacePath=${ns.path}\n`,
        'multi-user.target.wants/quicsteer.service': { link: '../quicsteer.service' },
      },
      files: { '/etc/quicsteer/quicsteer.json': { text: `${JSON.stringify(CONFIG)}\n`, mode: 0o600 } },
    };
    const states: unknown[] = [];
    for (const n of [1, 2]) {
      t.is(ns.xdpProgId('eth0'), undefined, `boot ${n}: nothing attached before it`);
      await withSystemd(t, boot, async (sd) => {
        // Systemd.start returned: is-system-running says running, so the boot transaction, the agent included, is done
        t.is(sd.show('quicsteer.service', 'ActiveState').ActiveState, 'active');
        t.truthy(ns.xdpProgId('eth0'), `boot ${n}: attached at boot`);
        const st = JSON.parse(sd.run('quicsteer', ['status', '--json'], { net: ns.path }).stdout) as { localId: string; generation: { seq: number }; vips: unknown[]; servers: unknown[]; warnings: string[] };
        t.deepEqual(st.warnings, []);
        states.push({ localId: st.localId, generation: st.generation.seq, vips: st.vips, servers: st.servers });
        t.true(sd.journal('quicsteer.service').some((l) => /^info: applied \(start\), generation 1: /.test(l)), `boot ${n}: applied from nothing`);
      });
      // the "reboot": this systemd's namespaces are gone, and with them the bpffs holding the link
      // (the kernel frees the superblock, and the link with it, after the last reference goes: give a loaded machine time)
      const end = Date.now() + 20_000;
      while (ns.xdpProgId('eth0') !== undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      t.is(ns.xdpProgId('eth0'), undefined, `after boot ${n}'s shutdown: the program went with its pins`);
    }
    t.deepEqual(states[1], states[0], 'the same state after the reboot');
  } finally {
    ns.destroy();
  }
});

// A QUIC server as far as the probe cares: answers a datagram of an unknown version with Version Negotiation.
const VN_RESPONDER = `const s = require('dgram').createSocket('udp4');
s.on('message', (m, r) => {
  if (m.length < 7 || !(m[0] & 0x80)) return;
  const dl = m[5], dcid = m.subarray(6, 6 + dl), sl = m[6 + dl], scid = m.subarray(7 + dl, 7 + dl + sl);
  s.send(Buffer.concat([Buffer.from([0x80, 0, 0, 0, 0, sl]), scid, Buffer.from([dl]), dcid, Buffer.from([0, 0, 0, 1])]), r.port, r.address);
});
s.bind(4433, process.argv[1]);`;

privileged('peer health in the sandbox: the agent probes a peer over UDP, marks it down when it stops answering and up when a QUIC Version Negotiation comes back (warning at priority 4 in the journal)', async (t) => {
  t.timeout(100_000);
  await withAgent(t, '', async ({ sd, ns, qs, agentLines }) => {
    ns.ip('addr', 'add', '192.0.2.2/24', 'dev', 'eth1');
    const cfg = { ...CONFIG, servers: [CONFIG.servers[0], { ...CONFIG.servers[1], probe: '192.0.2.2:4433' }], health: { interval: 5, timeout: 2, unhealthyThreshold: 2, healthyThreshold: 2 } };
    sd.writeFile('/etc/quicsteer/quicsteer.json', `${JSON.stringify(cfg)}\n`, 0o600);
    t.is(sd.systemctl('start', 'quicsteer.service').code, 0);
    const state = () => (JSON.parse(qs('status', '--json').stdout) as { servers: { id: string; state: string }[] }).servers.find((s) => s.id === '0c0d')?.state;
    const line = (re: RegExp, priority: string) => agentLines().some((l) => l.priority === priority && re.test(l.msg));
    // nothing answers yet: down after two unanswered probes
    await sd.until('0c0d down', () => line(/^warning: peer 0c0d \(192\.0\.2\.2:4433\) down: 2 probes unanswered; marked down, generation \d+$/, '4'), 30_000);
    t.is(state(), 'down');
    // a responder in the netns: up after two answered probes, which only a probe that really went out and came back gives
    const responder = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', VN_RESPONDER, '192.0.2.2'], { stdio: 'ignore' });
    try {
      await sd.until('0c0d up', () => line(/^info: peer 0c0d \(192\.0\.2\.2:4433\) up: 2 probes answered; marked up, generation \d+$/, '6'), 30_000);
      t.is(state(), 'up');
    } finally {
      responder.kill('SIGKILL');
    }
  });
});
