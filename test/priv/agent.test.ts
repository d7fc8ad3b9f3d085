// quicsteer agent on three real servers of the migration lab (real gtlsserver QUIC servers, a real
// gtlsclient behind a NAT, the director moving the client mid-transfer): the agents alone configure
// steering from their files. Start and converge; a file change is followed (and removing the VIP
// from the director's pick breaks the transfer: the control); a broken file is refused and steering
// stays; SIGHUP; SIGTERM leaves the data path (a transfer still migrates with every agent down);
// a restart changes nothing; a "reboot" (every pin and the bpffs mount gone) comes back to the same
// state and steers; a peer whose QUIC server dies is marked down within interval x threshold and up
// again when it answers (control: an agent with health off keeps it up); --detach-on-exit.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { privilegedSerial, ROOT } from '../helpers/env.js';
import { AgentProc, scrapeIn, type AgentEvent } from '../helpers/agent.js';
import { parseExposition, promtoolCheck, sampleMap } from '../helpers/prometheus.js';
import { CID_SPEC, MigrationLab, PORT, SERVERS, VIP, type RsName, type RunResult } from '../../src/lab/migration.js';

const HEALTH = { interval: 5, timeout: 2, unhealthyThreshold: 2, healthyThreshold: 2 };
let lab: MigrationLab | undefined;
const agents = {} as Record<RsName, AgentProc>;
const getLab = () => (lab ??= new MigrationLab({ director: 'neigh', uploadBytes: 8 << 20, downloadBytes: 20 << 20, rate: '50mbit', eventAfterMs: 1000, timeoutS: 40, listenAny: true }));

test.after.always(async () => {
  for (const a of Object.values(agents)) {
    a.kill('SIGKILL');
    await a.exited;
  }
  // the bpffs an agent mounted after the "reboot" is quicsteer's own: reset unmounts it and forgets its record
  if (lab) for (const s of SERVERS) lab.quicsteer(s.name, ['reset'], false);
  lab?.destroy();
});

const fileOf = (rs: RsName) => path.join(getLab().tmp, `${rs}.json`);

/** Writes a real server's apply file the way editors do (a new file renamed over the old one). */
function writeFile(rs: RsName, o: { vip?: boolean; health?: boolean; text?: string } = {}): void {
  const l = getLab();
  const me = SERVERS.find((s) => s.name === rs)!;
  const cfg = {
    localId: me.sid,
    interfaces: [{ name: 'eth0' }],
    vips: o.vip === false ? [] : [{ address: `${VIP}:${PORT}`, cid: CID_SPEC }],
    servers: SERVERS.map((p) => ({ id: p.sid, mac: l.mac[p.name], probe: `${p.ip}:${PORT}` })),
    health: { enabled: o.health !== false, ...HEALTH },
  };
  const tmp = `${fileOf(rs)}.tmp`;
  writeFileSync(tmp, o.text ?? JSON.stringify(cfg, null, 2));
  renameSync(tmp, fileOf(rs));
}

// rs1's agent serves metrics (on its namespace's loopback)
const METRICS = '127.0.0.1:9915';
function startAgent(rs: RsName, args: string[] = []): AgentProc {
  if (rs === 'rs1' && !args.includes('--metrics')) args = [...args, '--metrics', METRICS];
  return (agents[rs] = new AgentProc(getLab().rs[rs].name, getLab().pins[rs].dir, fileOf(rs), args));
}

interface Status {
  attached: { interface: string; mode: string; aes: string; progId: number }[];
  localId: string | null;
  generation: { seq: number } | null;
  vips: { address: string; cid: string[] }[];
  servers: { id: string; mac: string; state: string }[];
}
const status = (rs: RsName) => JSON.parse(getLab().quicsteer(rs, ['status', '--json']).stdout) as Status;
/** What a reboot must bring back: everything but generation numbers and program ids. */
const config = (s: Status) => ({ attached: s.attached.map((a) => ({ interface: a.interface, mode: a.mode, aes: a.aes })), localId: s.localId, vips: s.vips, servers: s.servers });
const xdpOn = (rs: RsName) => /\bxdp\b/.test(execFileSync('ip', ['-n', getLab().rs[rs].name, 'link', 'show', 'eth0'], { encoding: 'utf8' }));

/** A migration run steered by whatever the agents set up: it must survive, moved from rs1 to rs2. */
async function migrates(t: ExecutionContext, what: string): Promise<RunResult> {
  const r = await getLab().run('nat-rebinding', true);
  t.log(`${what}: ${r.directorBefore} -> ${r.directorAfter}, ${r.steered[r.directorAfter!]} packets steered, download ${r.downloadIdentical ? 'identical' : 'broken'}, ${r.ms} ms`);
  t.true(r.downloadIdentical && r.uploadComplete, `${what}: the transfer completed`);
  t.not(r.directorAfter, r.directorBefore, `${what}: the director moved the client`);
  t.true(r.owner === r.directorBefore, `${what}: the first pick owns the connection`);
  t.true(r.steered[r.directorAfter!] > 0, `${what}: the director's new pick steered`);
  return r;
}

/** `n` QUIC short-header packets whose DCID carries server ID `sid`, sent from the NAT straight to real server `to`'s MAC. */
function sendShortHeader(l: MigrationLab, to: RsName, sid: string, n: number): void {
  l.nat.ip('neigh', 'replace', VIP, 'lladdr', l.mac[to], 'dev', 'n1', 'nud', 'permanent');
  const pkt = Buffer.concat([Buffer.from([0x41, 0x11]), Buffer.from(sid, 'hex'), randomBytes(15), randomBytes(60)]);
  execFileSync('ip', ['netns', 'exec', l.nat.name, process.execPath, path.join(ROOT, 'build/dist/test/helpers/udp-peer.js'), 'send', VIP, String(PORT), pkt.toString('hex'), String(n)]);
}

const lastEvent = (a: AgentProc, name: string) => [...a.events].reverse().find((e) => e.event === name);

privilegedSerial('agents start, converge from their files, and steer a migrating QUIC transfer; removing the VIP from the file stops steering (control) and putting it back restores it', async (t) => {
  for (const s of SERVERS) writeFile(s.name);
  for (const s of SERVERS) startAgent(s.name);
  for (const s of SERVERS) {
    const ready = await agents[s.name].ready();
    t.is(ready.peers, 2, `${s.name} probes its two peers`);
    const applied = agents[s.name].events.find((e) => e.event === 'applied')!;
    t.truthy(applied, `${s.name} logged its first apply`);
    t.true((applied.changes as string[]).includes('+ attach eth0 (native)'));
    const st = status(s.name);
    t.is(st.localId, s.sid);
    t.deepEqual(st.attached.map((a) => a.interface), ['eth0']);
    t.is(st.servers.length, 3);
    t.true(st.servers.every((x) => x.state === 'up'));
  }
  await migrates(t, 'converged');

  // the file changes: rs2 (the director's pick after the event) loses the VIP, its agent follows
  const since = agents.rs2.events.length;
  writeFile('rs2', { vip: false });
  const gone = await agents.rs2.waitFor((e) => e.event === 'applied', 10_000, since);
  t.deepEqual(gone.changes, [`- vip ${VIP}:${PORT}`]);
  t.is(gone.trigger, 'file changed');
  const off = await getLab().run('nat-rebinding', false);
  t.log(`control, rs2 without the VIP: download ${off.downloadIdentical ? 'complete' : 'incomplete'}, steered ${JSON.stringify(off.steered)}`);
  t.false(off.downloadIdentical && off.uploadComplete, 'control: the transfer breaks when the new pick does not steer');
  t.is(off.steered.rs2, 0);

  const since2 = agents.rs2.events.length;
  writeFile('rs2');
  const back = await agents.rs2.waitFor((e) => e.event === 'applied', 10_000, since2);
  t.deepEqual(back.changes, [`+ vip ${VIP}:${PORT} ${CID_SPEC}`]);
  await migrates(t, 'VIP back');
});

privilegedSerial('a broken file is refused with one log line and steering stays as it was; SIGHUP reloads', async (t) => {
  const a = agents.rs2;
  const gen = status('rs2').generation!.seq;
  for (const [what, text] of [
    ['not JSON', '{"localId": "0002",'],
    ['a bad MAC', JSON.stringify({ localId: '0002', servers: [{ id: '0001', mac: 'ff:ff:ff:ff:ff:ff' }] })],
    ['an unknown interface', JSON.stringify({ localId: '0002', interfaces: [{ name: 'nosuch0' }] })],
  ] as const) {
    const since = a.events.length;
    writeFile('rs2', { text });
    const e = await a.waitFor((x) => x.event === 'refused', 10_000, since);
    t.log(`${what}: ${e.msg}`);
    t.is(e.level, 'error');
    // one line per refusal
    await new Promise((r) => setTimeout(r, 700));
    t.is(a.events.slice(since).filter((x) => x.level === 'error').length, 1, `${what}: one error line`);
    t.is(status('rs2').generation!.seq, gen, `${what}: nothing was written`);
  }
  await migrates(t, 'after the refusals');
  const since = a.events.length;
  writeFile('rs2');
  t.is((await a.waitFor((x) => x.event === 'unchanged', 10_000, since)).trigger, 'file changed');
  const since2 = a.events.length;
  a.kill('SIGHUP');
  t.is((await a.waitFor((x) => x.event === 'unchanged', 10_000, since2)).trigger, 'SIGHUP');
  t.is(status('rs2').generation!.seq, gen);
});

privilegedSerial('SIGTERM: every agent exits 0 and the data path stays (a transfer still migrates); a restart changes nothing', async (t) => {
  const before = Object.fromEntries(SERVERS.map((s) => [s.name, status(s.name)]));
  for (const s of SERVERS) {
    const r = await agents[s.name].stop();
    t.is(r.code, 0, `${s.name} exited 0`);
    t.truthy(lastEvent(agents[s.name], 'stopped'));
    t.true(xdpOn(s.name), `${s.name}: still attached`);
  }
  await migrates(t, 'every agent stopped');
  for (const s of SERVERS) startAgent(s.name);
  for (const s of SERVERS) {
    await agents[s.name].ready();
    const first = agents[s.name].events.find((e) => e.event === 'applied' || e.event === 'unchanged')!;
    t.is(first.event, 'unchanged', `${s.name}: the restart found the state as the file says`);
    t.false(agents[s.name].events.some((e) => e.event === 'upgraded'), `${s.name}: the same build's program stays`);
    t.deepEqual(status(s.name).attached[0]!.progId, before[s.name]!.attached[0]!.progId);
  }
});

privilegedSerial('reboot: with every pin and the bpffs mount gone, the agent brings back the same state and a migrating transfer is steered', async (t) => {
  const before = Object.fromEntries(SERVERS.map((s) => [s.name, config(status(s.name))]));
  for (const s of SERVERS) {
    t.is((await agents[s.name].stop()).code, 0);
    const pin = getLab().pins[s.name].dir;
    // what a reboot loses: every pin (the links go with them) and the bpffs itself
    // (maps.debug and progs.debug are the bpffs's own preloaded iterators, not pins)
    for (const f of readdirSync(pin)) if (!f.endsWith('.debug')) rmSync(path.join(pin, f), { recursive: true });
    execFileSync('umount', [pin]);
    t.false(xdpOn(s.name), `${s.name}: nothing attached after the "reboot"`);
  }
  for (const s of SERVERS) startAgent(s.name);
  for (const s of SERVERS) {
    await agents[s.name].ready();
    t.deepEqual(config(status(s.name)), before[s.name], `${s.name}: the same state came back`);
    t.true(xdpOn(s.name));
  }
  await migrates(t, 'after the reboot');
});

privilegedSerial("peer health: rs3's QUIC server dies -> rs1 marks it down within interval x threshold (+ timeout) and its packets count as peer_down; it comes back -> up; rs2 with health off keeps it up (control)", async (t) => {
  const l = getLab();
  const metrics = () => {
    const text = scrapeIn(l.rs.rs1.name, METRICS);
    const c = promtoolCheck(text);
    t.is(c.code, 0, c.problems);
    return sampleMap(parseExposition(text));
  };
  const m0 = metrics();
  t.is(m0.get('quicsteer_peer_up{address="192.0.2.3:4433",server="0003"}'), 1);
  t.is(m0.get('quicsteer_server_state{server="0003",state="up"}'), 1);
  // rs2: the same file with health off
  const since2 = agents.rs2.events.length;
  writeFile('rs2', { health: false });
  await agents.rs2.waitFor((e) => e.event === 'unchanged', 10_000, since2);
  t.is(agents.rs2.events.slice(since2).filter((e) => e.event === 'probe-stopped').length, 2, 'rs2 stopped probing both peers');

  const since = agents.rs1.events.length;
  const killed = Date.now();
  l.quic.rs3.stop();
  const down: AgentEvent = await agents.rs1.waitFor((e) => e.event === 'peer' && e.server === '0003' && e.health === 'down', 60_000, since);
  const took = (Date.parse(down.time) - killed) / 1000;
  const bound = HEALTH.interval * HEALTH.unhealthyThreshold + HEALTH.timeout;
  t.log(`rs1 marked 0003 down ${took.toFixed(1)} s after its QUIC server died (bound: interval ${HEALTH.interval} s x threshold ${HEALTH.unhealthyThreshold} + timeout ${HEALTH.timeout} s = ${bound} s)`);
  t.true(took <= bound + 1, `down within ${bound} s (+1 s of scheduling)`);
  t.is(status('rs1').servers.find((x) => x.id === '0003')!.state, 'down');
  const m1 = metrics();
  t.is(m1.get('quicsteer_peer_up{address="192.0.2.3:4433",server="0003"}'), 0, '/metrics: peer_up 0');
  t.is(m1.get('quicsteer_server_state{server="0003",state="down"}'), 1, '/metrics: the table has it down');
  t.is(m1.get('quicsteer_apply_total{result="success"}'), m0.get('quicsteer_apply_total{result="success"}')! + 1, '/metrics: the mark was one more successful apply');
  t.is(m1.get('quicsteer_generation'), m0.get('quicsteer_generation')! + 1);
  // control: rs2 probes nothing, so its table keeps 0003 up
  t.is(status('rs2').servers.find((x) => x.id === '0003')!.state, 'up');

  // a packet for 0003 reaching rs1 is not steered: counted peer_down
  const peerDown = () => JSON.parse(l.quicsteer('rs1', ['stats', '--json']).stdout).reasons.peer_down.packets as number;
  const pd0 = peerDown();
  sendShortHeader(l, 'rs1', '0003', 5);
  t.is(peerDown() - pd0, 5, "five packets for the dead peer counted as peer_down on rs1");
  t.is(metrics().get('quicsteer_packets_total{reason="peer_down"}')! - m1.get('quicsteer_packets_total{reason="peer_down"}')!, 5, '/metrics: peer_down moved by 5');

  const since3 = agents.rs1.events.length;
  const back = Date.now();
  l.quic.rs3.start();
  const up = await agents.rs1.waitFor((e) => e.event === 'peer' && e.server === '0003' && e.health === 'up', 60_000, since3);
  t.log(`rs1 marked 0003 up ${((Date.parse(up.time) - back) / 1000).toFixed(1)} s after its QUIC server came back (healthy threshold ${HEALTH.healthyThreshold} x interval ${HEALTH.interval} s)`);
  t.is(status('rs1').servers.find((x) => x.id === '0003')!.state, 'up');
  t.is(metrics().get('quicsteer_peer_up{address="192.0.2.3:4433",server="0003"}'), 1, '/metrics: peer_up back to 1');
  t.is(status('rs2').servers.find((x) => x.id === '0003')!.state, 'up');
  writeFile('rs2');
});

privilegedSerial('--detach-on-exit: SIGTERM detaches and removes the state', async (t) => {
  t.is((await agents.rs3.stop()).code, 0);
  startAgent('rs3', ['--detach-on-exit']);
  await agents.rs3.ready();
  t.true(xdpOn('rs3'));
  t.is((await agents.rs3.stop()).code, 0);
  t.false(xdpOn('rs3'), 'detached');
  t.false(existsSync(path.join(getLab().pins.rs3.dir, 'qs_live')), 'the pinned state went with it');
});
