// The programs a generated keepalived configuration runs pass keepalived's script security: what
// --config-test does not check (it disables an insecure or missing program silently), keepalived's
// startup does, and logs. Each half of keepalived starts in a network namespace of its own, with its
// log on stderr, until it has checked its scripts: the health checker (-C: MISC_CHECK, notify_up/down;
// without IPVS in the kernel it stops there) and VRRP (-P: the instance's notify). Root: the checks
// run only for root's scripts.
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { privileged } from '../helpers/env.js';
import { cli } from '../helpers/cli.js';
import { ROOT } from '../helpers/env.js';
import { tempDir } from '../helpers/tmp.js';

const DIRECTOR = path.join(ROOT, 'test/fixtures/keepalived/director.json');
// every way keepalived 2.2.7 (lib/notify.c, check/check_misc.c) says it will not run a program
const REFUSED = /Unsafe permissions|Disabling|cannot be accessed|could not find script|Cannot find script|not executable|Wrong file type|Please add a #! shebang|SECURITY VIOLATION|Unable to (set|access)/;

/** keepalived's log from starting one half (-C or -P) on `conf` until `until` shows (or it exits; at most 10 s). */
function start(conf: string, half: '-C' | '-P', until: RegExp): Promise<string> {
  const dir = path.dirname(conf);
  const pids = ['-p', 'main', '-c', 'checkers', '-r', 'vrrp'].map((x) => (x.startsWith('-') ? x : path.join(dir, `${x}.pid`)));
  const k = spawn('unshare', ['-n', 'sh', '-c', 'ip link add eth0 type veth peer name eth1 && ip link set eth0 up && exec "$@"', 'sh', 'keepalived', half, '-n', '-l', '-D', '-f', conf, ...pids], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  // resolved once keepalived has exited: the next start reuses its pid files, and one that is still
  // running makes the next say "daemon is already running" (seen in a full run) and check nothing
  return new Promise((resolve) => {
    const stop = () => {
      clearTimeout(timer);
      k.kill('SIGTERM');
    };
    const timer = setTimeout(stop, 10_000);
    const read = (d: Buffer) => {
      log += d.toString();
      if (until.test(log)) stop();
    };
    k.stdout.on('data', read);
    k.stderr.on('data', read);
    k.on('exit', () => {
      clearTimeout(timer);
      resolve(log);
    });
  });
}

/** Both halves' logs for the configuration these options generate. */
async function startBoth(args: string[]): Promise<{ checker: string; vrrp: string }> {
  const conf = path.join(tempDir('qs-keepalived'), 'keepalived.conf');
  const r = cli(['director', 'keepalived', '-f', DIRECTOR, '--vrrp', 'eth0', '--vrrp-id', '51', ...args]);
  if (r.code !== 0) throw new Error(r.stderr);
  writeFileSync(conf, r.stdout);
  // the checker has checked its scripts when it sets IPVS up; VRRP, when its instance takes a state
  const checker = await start(conf, '-C', /Initializing ipvs/);
  const vrrp = await start(conf, '-P', /\(quicsteer\) (e|E)ntering [A-Z]+ (state|STATE)/);
  return { checker, vrrp };
}

privileged("keepalived runs this checkout's quicsteer probe and root-owned notify programs: none is disabled", async (t) => {
  const launcher = path.join(ROOT, 'scripts/quicsteer.mjs');
  const { checker, vrrp } = await startBoth(['--quicsteer', launcher, '--notify', '/usr/bin/true', '--vrrp-notify', '/usr/bin/true']);
  t.regex(checker, /Initializing ipvs/, checker);
  t.notRegex(checker, REFUSED, `a directory on the way to ${launcher} is writable by others than root, or it is missing`);
  t.regex(vrrp, /\(quicsteer\) (e|E)ntering /, vrrp);
  t.notRegex(vrrp, REFUSED);
});

privileged('the control: keepalived disables a program in a directory anyone can write, and a missing one', async (t) => {
  const open = tempDir('qs-keepalived-open');
  chmodSync(open, 0o777);
  const insecure = path.join(open, 'probe');
  copyFileSync('/usr/bin/true', insecure);
  const { checker, vrrp } = await startBoth(['--quicsteer', insecure, '--notify', '/nonexistent/qs-peer-state', '--vrrp-notify', insecure]);
  t.regex(checker, new RegExp(`Disabling misc script '${insecure}' 'probe' '192\\.0\\.2\\.1:443' '--timeout' '2' due to insecure`), checker);
  t.regex(checker, /Script \/nonexistent\/qs-peer-state cannot be accessed/, checker);
  t.regex(vrrp, new RegExp(`Unsafe permissions found for script '${insecure}' - disabling`), vrrp);
});
