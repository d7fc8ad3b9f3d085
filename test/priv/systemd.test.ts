// The systemd side: `make install` puts the unit where it belongs (idempotent, DESTDIR; under a systemd
// as PID 1 it reloads it, and systemd-analyze verify passes there), and a real systemd of the test's own
// (test/helpers/systemd.ts) runs a Type=notify service whose readiness goes through the addon's sdNotify.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { privileged } from '../helpers/env.js';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { Systemd } from '../helpers/systemd.js';

const UNIT = path.join(ROOT, 'contrib/systemd/quicsteer.service');


/** Runs fn with a systemd of its own; on failure its journal goes to the test's log. */
async function withSystemd(t: ExecutionContext, o: { netns?: string[] }, fn: (sd: Systemd) => Promise<void>): Promise<void> {
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

privileged('make install puts the command, the unit and /etc/quicsteer in place; twice is the same; quicsteer.json is never touched; uninstall removes only what install added', (t) => {
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
  };
  const strip = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).filter(([k]) => !['etc/', 'usr/', 'usr/local/', 'usr/local/lib/', 'usr/local/lib/systemd/'].includes(k)));
  t.deepEqual(strip(tree(dest)), strip(want));
  t.regex(first.out, /next: write \/etc\/quicsteer\/quicsteer\.json/);

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
  await withSystemd(t, {}, async (sd) => {
    ({ pid, dir } = sd);
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
  t.deepEqual(cgroupDirs(), [], 'its cgroups are gone');
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
    t.throws(() => fs.lstatSync(wants), { code: 'ENOENT' }, 'disabled');
  });
});

function cgroupDirs(): string[] {
  const root = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[f.indexOf('-') + 1] === 'cgroup2')![4]!;
  return fs.readdirSync(root).filter((n) => n.startsWith(`qs-sd-${process.pid}-`));
}
