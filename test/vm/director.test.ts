// In a VM with a real IPVS: the director reconciles IPVS-DR services through ipvsadm, real servers
// answer the client directly, and health checks with a real QUIC server drive weights to 0 and back.
import test from 'ava';
import { rootOnlyScripts, tempDir } from '../helpers/tmp.js';
import { inVm, vmTest } from '../helpers/vm.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Netns, sh } from '../helpers/netns.js';
import { cli, cliJson, SHIM } from '../helpers/cli.js';
import { QuicServer } from '../helpers/quic-server.js';
import { ROOT } from '../helpers/paths.js';
import { directorLockFile } from '../../src/control/lock.js';

const VIP = '198.51.100.10';
const DR_PORT = 4433; // node UDP servers on the VIP: the DR round trip
const QUIC_PORT = 5433; // gtlsserver on each real server's address: the health checks
const DIRECTOR_IP = '192.0.2.254';
const CLIENT_IP = '192.0.2.100';
const RS = { rs1: '192.0.2.1', rs2: '192.0.2.2' } as const;
const PEER = path.join(ROOT, 'build/dist/test/helpers/udp-peer.js');
const dir = tempDir('qs-director');
const STATE = path.join(dir, 'director.json');

const ipvsSave = () => execFileSync('ipvsadm', ['-S', '-n'], { encoding: 'utf8' });
const director = (...args: string[]) => cli(['director', ...args, '--state', STATE]);

/** Seconds until `ok()` holds, polled every 250 ms; NaN after `limitS`. */
async function waitFor(ok: () => boolean, limitS: number): Promise<number> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > limitS * 1000) return NaN;
    await new Promise((r) => setTimeout(r, 250));
  }
  return (Date.now() - t0) / 1000;
}

function writeFile(name: string, v: unknown): string {
  const f = path.join(dir, name);
  writeFileSync(f, JSON.stringify(v));
  return f;
}

function listeners(weights: { rs1: number; rs2: number }) {
  const reals = (port: number) => (['rs1', 'rs2'] as const).map((r) => ({ address: RS[r], port, weight: weights[r], serverId: r === 'rs1' ? '0001' : '0002' }));
  return {
    listeners: [
      { vip: `${VIP}:${DR_PORT}`, scheduler: 'wrr', realServers: reals(DR_PORT) },
      { vip: `${VIP}:${QUIC_PORT}`, scheduler: 'wlc', realServers: reals(QUIC_PORT), health: { timeout: 2, interval: 5, unhealthyThreshold: 2, healthyThreshold: 2 } },
    ],
  };
}

/** The director (this namespace), a client and two real servers on one bridge. */
class Lab {
  readonly client = new Netns('qs-cl');
  readonly rs = { rs1: new Netns('qs-rs1'), rs2: new Netns('qs-rs2') };

  constructor() {
    for (const m of ['ip_vs', 'ip_vs_wrr', 'ip_vs_wlc', 'ip_vs_sh', 'ip_vs_mh', 'veth', 'bridge']) sh('modprobe', m);
    sh('ip', 'link', 'add', 'qsbr0', 'type', 'bridge');
    sh('ip', 'addr', 'add', `${DIRECTOR_IP}/24`, 'dev', 'qsbr0');
    sh('ip', 'link', 'set', 'qsbr0', 'up');
    sh('ip', 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
    const hosts: [Netns, string, string][] = [[this.client, 'qs-cl', CLIENT_IP], [this.rs.rs1, 'qs-rs1', RS.rs1], [this.rs.rs2, 'qs-rs2', RS.rs2]];
    for (const [ns, port, addr] of hosts) {
      sh('ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name);
      sh('ip', 'link', 'set', port, 'master', 'qsbr0', 'up');
      ns.ip('addr', 'add', `${addr}/24`, 'dev', 'eth0');
      ns.ip('link', 'set', 'eth0', 'up');
    }
    // the client reaches the VIP through the director
    this.client.ip('route', 'add', `${VIP}/32`, 'via', DIRECTOR_IP);
    for (const r of ['rs1', 'rs2'] as const) {
      const res = cli(['realserver', 'setup', '--vip', VIP, '--state', path.join(dir, `${r}.json`)], { ns: this.rs[r].name });
      if (res.code !== 0) throw new Error(res.stderr);
    }
  }

  destroy(): void {
    for (const ns of [this.client, this.rs.rs1, this.rs.rs2]) ns.destroy();
    sh('ip', 'link', 'del', 'qsbr0');
    sh('ip', 'addr', 'del', `${VIP}/32`, 'dev', 'lo');
    execFileSync('ipvsadm', ['-C']);
  }
}

let lab: Lab;
if (inVm)
  test.before(() => {
    lab = new Lab();
  });
test.after.always(() => lab?.destroy());

vmTest('apply creates exactly the services; re-apply changes nothing; a weight change touches only that real server; others are left alone', (t) => {
  // a service quicsteer does not manage
  execFileSync('ipvsadm', ['-A', '-t', '203.0.113.1:80', '-s', 'rr']);
  const f = writeFile('a.json', listeners({ rs1: 1, rs2: 1 }));
  const r = cliJson<{ calls: string[]; applied: boolean }>(director('apply', '-f', f, '--json'));
  t.true(r.applied);
  t.is(r.calls.length, 6);
  t.deepEqual(ipvsSave().trim().split('\n').sort(), [
    '-A -t 203.0.113.1:80 -s rr',
    `-A -u ${VIP}:${DR_PORT} -s wrr`,
    `-A -u ${VIP}:${QUIC_PORT} -s wlc`,
    `-a -u ${VIP}:${DR_PORT} -r ${RS.rs1}:${DR_PORT} -g -w 1`,
    `-a -u ${VIP}:${DR_PORT} -r ${RS.rs2}:${DR_PORT} -g -w 1`,
    `-a -u ${VIP}:${QUIC_PORT} -r ${RS.rs1}:${QUIC_PORT} -g -w 1`,
    `-a -u ${VIP}:${QUIC_PORT} -r ${RS.rs2}:${QUIC_PORT} -g -w 1`,
  ].sort());
  t.is(director('apply', '-f', f).stdout, 'no changes\n');
  const before = ipvsSave();
  const w = cliJson<{ calls: string[] }>(director('apply', '-f', writeFile('b.json', listeners({ rs1: 1, rs2: 5 })), '--json'));
  t.deepEqual(w.calls, [`ipvsadm -e -u ${VIP}:${DR_PORT} -r ${RS.rs2}:${DR_PORT} -g -w 5`, `ipvsadm -e -u ${VIP}:${QUIC_PORT} -r ${RS.rs2}:${QUIC_PORT} -g -w 5`]);
  const diff = ipvsSave().split('\n').filter((l) => !before.includes(l));
  t.deepEqual(diff, [`-a -u ${VIP}:${DR_PORT} -r ${RS.rs2}:${DR_PORT} -g -w 5`, `-a -u ${VIP}:${QUIC_PORT} -r ${RS.rs2}:${QUIC_PORT} -g -w 5`]);
  const st = cliJson<{ services: { listener: string }[]; others: string[] }>(director('status', '--json'));
  t.deepEqual(st.services.map((s) => s.listener).sort(), [`${VIP}:${DR_PORT}`, `${VIP}:${QUIC_PORT}`]);
  t.deepEqual(st.others, ['tcp 203.0.113.1:80']);
});

vmTest('UDP from the client reaches a real server through IPVS-DR, which sees the client address; the reply comes straight back from the VIP', async (t) => {
  const servers = (['rs1', 'rs2'] as const).map((r) => {
    const p = spawn('ip', ['netns', 'exec', lab.rs[r].name, process.execPath, PEER, 'listen', VIP, String(DR_PORT), 'echo'], { stdio: ['pipe', 'pipe', 'inherit'] });
    return { r, p, lines: [] as string[] };
  });
  try {
    for (const s of servers) {
      await new Promise<void>((resolve) => {
        s.p.stdout!.on('data', (d: Buffer) => {
          s.lines.push(...d.toString().split('\n').filter(Boolean));
          if (s.lines.includes('ready')) resolve();
        });
      });
    }
    // the client sends one datagram and waits for the real server's echo
    const out = execFileSync('ip', ['netns', 'exec', lab.client.name, process.execPath, PEER, 'ask', VIP, String(DR_PORT), '717569632d6472', '3000'], { encoding: 'utf8' });
    const reply = JSON.parse(out) as { from: string; port: number; data: string };
    t.deepEqual([reply.from, reply.port], [VIP, DR_PORT], 'the reply comes from the VIP itself');
    const got = () => servers.flatMap((s) => s.lines.filter((l) => l !== 'ready').map((l) => ({ r: s.r, ...(JSON.parse(l) as { from: string }) })));
    // the server's line travels through a pipe: give it a moment
    for (let i = 0; i < 200 && got().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const seen = got();
    t.is(seen.length, 1, 'one real server got it');
    t.is(seen[0]!.from, CLIENT_IP, "the real server sees the client's own address");
    t.is(reply.data, '717569632d6472');
  } finally {
    for (const s of servers) s.p.kill();
  }
});

vmTest('health: a real QUIC server that stops answering gets weight 0 within interval x threshold; back, its weight returns', async (t) => {
  // every listener is health-checked: a real QUIC server behind each real server of both of them
  const quic = (['rs1', 'rs2'] as const).flatMap((r) => [QUIC_PORT, DR_PORT].map((port) => new QuicServer(lab.rs[r].name, RS[r], port)));
  quic.forEach((q) => q.start());
  const rs2Quic = quic[2]!; // rs2 on QUIC_PORT
  const log: string[] = [];
  const daemon: ChildProcess = spawn(process.execPath, [SHIM, 'director', 'health', '--state', STATE, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  daemon.stdout!.on('data', (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean)));
  const weight = () => Number(/-r 192\.0\.2\.2:5433 -g -w (\d+)/.exec(ipvsSave())![1]);
  try {
    await new Promise((r) => setTimeout(r, 6000)); // a healthy round first
    t.is(weight(), 5);
    rs2Quic.stop();
    // interval 5 s x unhealthy threshold 2, plus one probe timeout (2 s), plus slack for a TCG VM
    const down = await waitFor(() => weight() === 0, 5 * 2 + 2 + 8);
    t.false(Number.isNaN(down), `weight 0 within the bound; log: ${log.join(' | ')}`);
    t.log(`dead server detected after ${down.toFixed(1)} s (interval 5 s, unhealthy threshold 2, timeout 2 s)`);
    t.is(Number(/-r 192\.0\.2\.1:5433 -g -w (\d+)/.exec(ipvsSave())![1]), 1, 'the other real server keeps its weight');
    rs2Quic.start();
    const up = await waitFor(() => weight() === 5, 5 * 2 + 8);
    t.false(Number.isNaN(up), `weight restored; log: ${log.join(' | ')}`);
    t.log(`recovered server restored after ${up.toFixed(1)} s (healthy threshold 2)`);
    // the daemon logs a transition right after its ipvsadm call: let the line arrive
    for (let i = 0; i < 100 && log.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    const transitions = log.map((l) => JSON.parse(l) as { realServer: string; serverId: string; to: string });
    t.deepEqual(transitions.map((x) => [x.realServer, x.serverId, x.to]), [[`${RS.rs2}:${QUIC_PORT}`, '0002', 'down'], [`${RS.rs2}:${QUIC_PORT}`, '0002', 'up']]);
  } finally {
    daemon.kill('SIGTERM');
    quic.forEach((q) => q.destroy());
  }
});

vmTest('director health waits while a director apply holds the state lock: the dead server keeps its weight until the lock is free, then gets weight 0 (no ipvsadm call interleaves with an apply)', async (t) => {
  const quic = (['rs1', 'rs2'] as const).flatMap((r) => [QUIC_PORT, DR_PORT].map((port) => new QuicServer(lab.rs[r].name, RS[r], port)));
  quic.forEach((q) => q.start());
  t.is(director('apply', '-f', writeFile('h.json', listeners({ rs1: 1, rs2: 5 }))).code, 0);
  const log: string[] = [];
  const daemon: ChildProcess = spawn(process.execPath, [SHIM, 'director', 'health', '--state', STATE, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  daemon.stdout!.on('data', (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean)));
  const weight = () => Number(/-r 192\.0\.2\.2:5433 -g -w (\d+)/.exec(ipvsSave())![1]);
  // a writer holding the director's lock, as a long apply does (flock(1) on the same lock file)
  // (its own process group: the sleep it runs inherits the locked fd, so both go at release)
  const holder = spawn('flock', ['-x', directorLockFile(STATE), 'sleep', '60'], { stdio: 'ignore', detached: true });
  const release = () => {
    try {
      process.kill(-holder.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  };
  try {
    await new Promise((r) => setTimeout(r, 6000)); // a healthy round first
    quic[2]!.stop(); // rs2 on QUIC_PORT
    // past the bound within which the health test above (its control: no lock held) sees weight 0
    await new Promise((r) => setTimeout(r, (5 * 2 + 2 + 8) * 1000));
    t.is(weight(), 5, 'while the lock is held the weight stays');
    t.deepEqual(log, [], 'no transition reported while waiting');
    const t0 = Date.now();
    release();
    const down = await waitFor(() => weight() === 0, 10);
    t.false(Number.isNaN(down), `weight 0 once the lock is free; log: ${log.join(' | ')}`);
    t.log(`the waiting transition landed ${((Date.now() - t0) / 1000).toFixed(1)} s after the lock was released`);
    for (let i = 0; i < 50 && log.length < 1; i++) await new Promise((r) => setTimeout(r, 100));
    t.deepEqual(log.map((l) => (JSON.parse(l) as { to: string }).to), ['down'], 'one transition, reported after its ipvsadm call');
    t.is(daemon.exitCode, null, 'the daemon waited and went on (it did not give up after --wait)');
  } finally {
    release();
    daemon.kill('SIGTERM');
    quic.forEach((q) => q.destroy());
  }
});

vmTest('apply warns when it takes a real server out while net.ipv4.vs.expire_nodest_conn is 0 (its flows would be dropped), and not when it is 1', (t) => {
  const sysctl = (v: string) => writeFileSync('/proc/sys/net/ipv4/vs/expire_nodest_conn', v);
  const one = { listeners: [{ vip: `${VIP}:${DR_PORT}`, scheduler: 'wrr', realServers: [{ address: RS.rs1, port: DR_PORT }] }] };
  const before = readFileSync('/proc/sys/net/ipv4/vs/expire_nodest_conn', 'utf8').trim();
  try {
    t.is(director('apply', '-f', writeFile('two.json', listeners({ rs1: 1, rs2: 1 }))).code, 0);
    sysctl('0');
    const dry = director('apply', '--dry-run', '-f', writeFile('one.json', one));
    t.is(dry.code, 0);
    t.true(dry.stdout.includes(`ipvsadm -d -u ${VIP}:${DR_PORT} -r ${RS.rs2}:${DR_PORT}`), dry.stdout);
    t.is(
      dry.stderr,
      `quicsteer: warning: net.ipv4.vs.expire_nodest_conn is 0: IPVS drops the packets of flows to ${RS.rs2}:${DR_PORT} until their entries expire; set it to 1 (sysctl -w net.ipv4.vs.expire_nodest_conn=1) so that IPVS schedules them again and quicsteer steers them to their owner\n`,
    );
    const j = cliJson<{ warnings: string[] }>(director('apply', '--dry-run', '--json', '-f', writeFile('one.json', one)));
    t.is(j.warnings.length, 1, '--json carries it in the object');
    sysctl('1');
    t.is(director('apply', '--dry-run', '-f', writeFile('one.json', one)).stderr, '');
  } finally {
    sysctl(before);
  }
});

vmTest('concurrent director apply: 12 at once, of two different files, each waits for the lock and the table ends as exactly one file; 10 kill -9 at random moments leave a state that the next apply converges from', async (t) => {
  const a = writeFile('ca.json', listeners({ rs1: 1, rs2: 5 }));
  // b differs in every way a plan can: a scheduler changed, a real server gone, a listener added, one removed
  const b = writeFile('cb.json', {
    listeners: [
      { vip: `${VIP}:${DR_PORT}`, scheduler: 'sh', flags: ['sh-port'], realServers: [{ address: RS.rs1, port: DR_PORT, weight: 3 }] },
      { vip: `${VIP}:6433`, scheduler: 'mh', realServers: [{ address: RS.rs1, port: 6433 }, { address: RS.rs2, port: 6433 }] },
    ],
  });
  const keys = { a: [`udp ${VIP}:${DR_PORT}`, `udp ${VIP}:${QUIC_PORT}`], b: [`udp ${VIP}:${DR_PORT}`, `udp ${VIP}:6433`] };
  // the service quicsteer does not manage (the first test made it; run alone, this one does)
  if (!ipvsSave().includes('-A -t 203.0.113.1:80 -s rr')) execFileSync('ipvsadm', ['-A', '-t', '203.0.113.1:80', '-s', 'rr']);
  const applyProc = (f: string) => spawn(process.execPath, [SHIM, '--wait', '120', 'director', 'apply', '-f', f, '--state', STATE], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exit = (p: ChildProcess) => new Promise<{ code: number | null; signal: string | null; err: string }>((resolve) => {
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p.once('exit', (code, signal) => resolve({ code, signal, err }));
  });
  /** which file the table and the state are now: exactly one, never a mix */
  const which = (): 'a' | 'b' => {
    const sameAs = (f: string) => director('apply', '--dry-run', '-f', f).stdout.startsWith('no changes');
    const [isA, isB] = [sameAs(a), sameAs(b)];
    t.true(isA !== isB, `the table is exactly one of the files (a: ${isA}, b: ${isB})\n${ipvsSave()}`);
    const st = JSON.parse(readFileSync(STATE, 'utf8')) as { services: string[] };
    const w = isA ? 'a' : 'b';
    t.deepEqual([...st.services].sort(), keys[w].sort(), 'the state names what the table has');
    t.true(ipvsSave().includes('-A -t 203.0.113.1:80 -s rr'), 'the service quicsteer does not manage is untouched');
    return w;
  };
  // without the lock (measured once by taking it out of directorApply) some of them fail, e.g.
  // "ipvsadm -A -u 198.51.100.10:4433 -s wrr: Service already exists": two plans from one table
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => exit(applyProc(i % 2 ? a : b))));
  t.deepEqual(results.filter((r) => r.code !== 0), [], 'every apply waited for the lock and succeeded');
  which();
  let killedRunning = 0;
  for (let i = 0; i < 10; i++) {
    const p = applyProc(i % 2 ? a : b);
    const ended = exit(p);
    await new Promise((r) => setTimeout(r, Math.random() * 2000)); // node starts in ~1 s under TCG, then the calls
    if (p.exitCode === null) killedRunning++;
    p.kill('SIGKILL');
    await ended;
    // whatever it left: the state file reads, and status works
    t.is(director('status', '--json').code, 0, `after kill ${i + 1}`);
  }
  t.log(`10 kill -9: ${killedRunning} landed while apply ran`);
  t.true(killedRunning >= 5, 'most kills hit a running apply');
  t.is(director('apply', '-f', a).code, 0);
  t.is(which(), 'a', 'one apply after the kills converges to its file');
});

vmTest('remove takes away what quicsteer manages, and nothing else', (t) => {
  const r = cliJson<{ applied: boolean }>(director('remove', '--json'));
  t.true(r.applied);
  t.is(ipvsSave().trim(), '-A -t 203.0.113.1:80 -s rr');
  t.is(director('status').stdout, '(no managed services)\nnot managed by quicsteer (left alone): tcp 203.0.113.1:80\n');
});

vmTest('keepalived from `director keepalived`: its MISC_CHECK runs quicsteer probe, a dead QUIC server gets weight 0 and back, and notify_down/notify_up run the --notify program with the arguments director health gives it', async (t) => {
  // keepalived runs check programs only from paths no other user can write (rootOnlyScripts)
  const calls = path.join(dir, 'notify.log');
  const bin = rootOnlyScripts('vm-director', { notify: `echo "$*" >> ${calls}` });
  const conf = path.join(dir, 'keepalived.conf');
  const gen = cli(['director', 'keepalived', '-f', writeFile('k.json', listeners({ rs1: 1, rs2: 5 })), '--quicsteer', path.join(bin, 'quicsteer'), '--notify', path.join(bin, 'notify'), '-o', conf]);
  t.is(gen.code, 0, gen.stderr);
  const quic = (['rs1', 'rs2'] as const).flatMap((r) => [QUIC_PORT, DR_PORT].map((port) => new QuicServer(lab.rs[r].name, RS[r], port)));
  quic.forEach((q) => q.start());
  const pid = (x: string) => path.join(dir, `ka-${x}.pid`);
  const ka = spawn('keepalived', ['-n', '-l', '-D', '-C', '-f', conf, '-p', pid('main'), '-c', pid('check'), '-r', pid('vrrp')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  ka.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  ka.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const weight = () => Number(/-r 192\.0\.2\.2:5433 -g -w (\d+)/.exec(ipvsSave())?.[1]);
  const notified = () => readFileSync(calls, { encoding: 'utf8', flag: 'a+' }).trim().split('\n').filter(Boolean);
  try {
    t.false(Number.isNaN(await waitFor(() => weight() === 5, 20)), `keepalived made the listeners; log:\n${log}`);
    await new Promise((r) => setTimeout(r, 6000)); // a healthy round of checks first
    t.deepEqual(notified(), [], 'no transition while every server answers');
    quic[2]!.stop(); // rs2 on QUIC_PORT
    // delay_loop 5 s, then retry 1 after 5 s (unhealthyThreshold 2), each probe up to 2 s, slack for TCG
    const down = await waitFor(() => weight() === 0, 5 + 5 + 2 * 2 + 8);
    t.false(Number.isNaN(down), `weight 0; log:\n${log}`);
    t.log(`keepalived: dead QUIC server at weight 0 after ${down.toFixed(1)} s (delay_loop 5, retry 1, delay_before_retry 5, probe timeout 2 s)`);
    t.is(Number(/-r 192\.0\.2\.1:5433 -g -w (\d+)/.exec(ipvsSave())![1]), 1, 'the other real server keeps its weight');
    quic[2]!.start();
    const up = await waitFor(() => weight() === 5, 5 + 2 + 8);
    t.false(Number.isNaN(up), `weight restored; log:\n${log}`);
    t.log(`keepalived: recovered server at weight 5 after ${up.toFixed(1)} s`);
    await waitFor(() => notified().length >= 2, 5);
    // exactly what `director health --notify` passes (its VM test above checks the same fields)
    t.deepEqual(notified(), [`down ${VIP}:${QUIC_PORT} ${RS.rs2}:${QUIC_PORT} 0002`, `up ${VIP}:${QUIC_PORT} ${RS.rs2}:${QUIC_PORT} 0002`]);
  } finally {
    const gone = new Promise((r) => ka.once('exit', r));
    ka.kill('SIGTERM');
    await gone;
    quic.forEach((q) => q.destroy());
    rmSync(bin, { recursive: true, force: true });
  }
  t.is(ipvsSave().trim(), '-A -t 203.0.113.1:80 -s rr', 'keepalived took its services away when it stopped');
});
