// Zero-loss changes under live traffic (test/helpers/stream.ts): 2,000 frames a second stream through
// the real server's veth while (a) `quicsteer attach` of two installations, alternately, swaps the
// running program for another build in place (bpf_link_update) 100 times, and (b) `quicsteer apply`
// of two files that differ in every table runs 100 times, and (c) `quicsteer agent` is restarted 100
// times (SIGTERM and kill -9 by turns), each new agent from the other installation swapping its build in. Every frame must reach its owner exactly
// once, and the program's own counters must agree. Controls: the same swap to a build that drops,
// and an apply that moves one streamed owner and takes another down, are seen as lost and misrouted.
import { writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { privilegedSerial } from '../helpers/env.js';
import { ROOT } from '../helpers/paths.js';
import { cliJson, type CliResult } from '../helpers/cli.js';
import { CHECKOUT, installation, type Installation } from '../helpers/installation.js';
import { StreamLab, describe, startStream, type StreamResult } from '../helpers/stream.js';
import { PinnedState } from '../../src/control/state.js';
import { AgentProc } from '../helpers/agent.js';
import { MAX_KEYS } from '../../src/bpf/layout.js';

// the new build: the same source by another compiler (see the Makefile); the broken one drops every frame
const UPGRADE_OBJ = path.join(ROOT, 'build/bpf/quicsteer_upgrade.bpf.o');
const DROP_OBJ = path.join(ROOT, 'build/bpf/upgrade_drop.bpf.o');
const SWAPS = Number(process.env.QS_UPGRADE_SWAPS ?? 100);
const APPLIES = Number(process.env.QS_UPGRADE_APPLIES ?? 100);
const RESTARTS = Number(process.env.QS_UPGRADE_RESTARTS ?? 100);

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Counter = { packets: number };
type Stats = { reasons: Record<string, Counter>; servers: Record<string, Counter> };

function stats(lab: StreamLab): { steered: number; local: number; servers: Record<string, number> } {
  const s = cliJson<Stats>(lab.q(['stats', '--json']));
  return { steered: Number(s.reasons.steered!.packets), local: Number(s.reasons.local!.packets), servers: Object.fromEntries(Object.entries(s.servers).map(([k, v]) => [k, Number(v.packets)])) };
}

/** The program's counters moved by exactly the frames the stream saw arrive: steered ones per owner, local ones. */
function countersAgree(t: ExecutionContext, lab: StreamLab, before: ReturnType<typeof stats>, r: StreamResult): void {
  const after = stats(lab);
  const peers = lab.peers.map((p) => p.id);
  t.is(after.steered - before.steered, peers.reduce((n, id) => n + r.byOwner[id]!.owner, 0), 'steered counter = frames that reached a peer');
  t.is(after.local - before.local, r.byOwner[lab.localId]!.owner, 'local counter = frames passed up');
  for (const id of peers) t.is(after.servers[id]! - (before.servers[id] ?? 0), r.byOwner[id]!.owner, `steered to ${id}`);
}

function zeroLoss(t: ExecutionContext, r: StreamResult): void {
  t.is(r.captureDropped, 0, 'the captures missed nothing');
  t.deepEqual([r.lost, r.misrouted, r.duplicated], [0, 0, 0], 'lost, misrouted, duplicated');
  t.is(r.owner, r.sent);
  for (const [id, c] of Object.entries(r.byOwner)) t.true(c.sent > 0 && c.owner === c.sent, `owner ${id}: ${c.owner} of ${c.sent}`);
}

/** The live generation's tables, each as one string (to tell which ones an apply changed). */
function liveTables(lab: StreamLab): Record<'localId' | 'vips' | 'servers' | 'peers' | 'keys' | 'txPorts', string> {
  const st = PinnedState.open(lab.fs.dir)!;
  try {
    const img = st.image();
    const str = (v: unknown) => JSON.stringify(v, (_, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
    const keys = Array.from({ length: MAX_KEYS }, (_, i) => st.keys.lookup(img.gen * MAX_KEYS + i));
    return { localId: str(img.localId), vips: str(img.vips), servers: str(img.servers), peers: str(img.peers), keys: str(keys), txPorts: str([...st.txPorts.keys()]) };
  } finally {
    st.close();
  }
}

function attach(lab: StreamLab, inst: Installation): { program: string; progId: number } {
  return cliJson<{ program: string; progId: number }>(lab.q(['attach', lab.ifname, '--id', lab.localId, '--json'], { shim: inst.shim }));
}

function writeJson(file: string, v: unknown): string {
  writeFileSync(file, JSON.stringify(v, null, 2));
  return file;
}

function ok(r: CliResult, what: string): CliResult {
  if (r.code !== 0) throw new Error(`quicsteer ${what}: ${r.stderr.trim()}`);
  return r;
}

privilegedSerial(`hot upgrade: ${SWAPS} in-place swaps between two builds through quicsteer attach under a live stream: 0 frames lost or misrouted, counters exact`, async (t) => {
  t.timeout(600_000);
  const lab = new StreamLab();
  try {
    const next = installation('next', UPGRADE_OBJ);
    ok(lab.q(['apply', '-f', writeJson(path.join(lab.dir, 'qs.json'), lab.config())]), 'apply');
    const before = stats(lab);
    let prog = lab.rs.xdpProgId(lab.ifname)!;
    const problems: string[] = [];
    const stream = await startStream(lab);
    const t0 = Date.now();
    let r: StreamResult;
    try {
      for (let i = 0; i < SWAPS; i++) {
        const inst = i % 2 === 0 ? next : CHECKOUT;
        const a = attach(lab, inst);
        const running = lab.rs.xdpProgId(lab.ifname);
        if (a.program !== 'updated' || a.progId === prog || running !== a.progId)
          problems.push(`swap ${i} (${inst === next ? 'new' : 'old'} build): program ${a.program}, prog id ${prog} -> ${a.progId}, running ${running}`);
        prog = a.progId;
      }
    } finally {
      r = await stream.stop();
    }
    const perSwap = (Date.now() - t0) / SWAPS;
    t.log(`${SWAPS} swaps, ${perSwap.toFixed(0)} ms each; ${describe(r)}`);
    t.deepEqual(problems, [], 'every attach swapped the other build in place');
    zeroLoss(t, r);
    t.true(r.sent >= SWAPS * 100, `the stream ran through every swap (${r.sent} frames)`);
    countersAgree(t, lab, before, r);
  } finally {
    lab.destroy();
  }
});

privilegedSerial(`apply under a live stream: ${APPLIES} applies of two files that differ in every table, owners kept: 0 frames lost or misrouted, counters exact`, async (t) => {
  t.timeout(600_000);
  const lab = new StreamLab();
  try {
    // another interface, for a server reached through it (the devmap of egress ports)
    lab.rs.veth('eth1', 'eth1p');
    const key = path.join(lab.dir, 'lb1.key');
    writeFileSync(key, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
    chmodSync(key, 0o600);
    const base = lab.config();
    const streamed = base.servers;
    // A and B: the streamed VIP's cr=0 config and the streamed servers are the same; everything else differs
    const A = {
      ...base,
      vips: [...base.vips, { address: '198.51.100.11:443', cid: 'quic-lb:sid=2,nonce=4' }, { address: '198.51.100.12:8443', cid: 'fixed:offset=1,len=2' }],
      servers: [...streamed, { id: '0005', mac: '02:5e:00:00:00:05' }, { id: '0006', mac: '02:5e:00:00:00:06', state: 'drain' }],
    };
    const B = {
      ...base,
      vips: [
        { address: base.vips[0]!.address, cid: [base.vips[0]!.cid as string, `quic-lb:sid=2,nonce=14,cr=1,key-file=${key}`] },
        { address: '198.51.100.11:443', cid: 'quic-lb:sid=2,nonce=8,cr=2' },
        { address: '[2001:db8::20]:443', cid: 'quic-lb:sid=2,nonce=6' },
      ],
      servers: [...streamed, { id: '0005', mac: '02:5e:00:00:01:05' }, { id: '0007', mac: '02:5e:00:00:00:07', dev: 'eth1' }, { id: '0008', mac: '02:5e:00:00:00:08', state: 'down' }],
    };
    const files = [writeJson(path.join(lab.dir, 'a.json'), A), writeJson(path.join(lab.dir, 'b.json'), B)];
    ok(lab.q(['apply', '-f', files[0]!]), 'apply a.json');
    const tablesA = liveTables(lab);
    let tablesB = tablesA;
    const before = stats(lab);
    const problems: string[] = [];
    const seen = new Set<string>();
    const stream = await startStream(lab);
    const t0 = Date.now();
    let r: StreamResult;
    try {
      for (let i = 0; i < APPLIES; i++) {
        const f = files[(i + 1) % 2]!;
        const res = lab.q(['apply', '-f', f, '--json']);
        if (res.code !== 0) {
          problems.push(`apply ${i} (${path.basename(f)}): exit ${res.code}: ${res.stderr.trim()}`);
          continue;
        }
        const changes = JSON.parse(res.stdout).changes as string[];
        if (changes.length === 0) problems.push(`apply ${i} (${path.basename(f)}): no change`);
        for (const c of changes) seen.add(c.replace(/^([-+~] \w+).*/, '$1'));
        if (i === 0) tablesB = liveTables(lab);
      }
    } finally {
      r = await stream.stop();
    }
    t.log(`${APPLIES} applies, ${((Date.now() - t0) / APPLIES).toFixed(0)} ms each; ${describe(r)}`);
    t.deepEqual(problems, [], 'every apply changed something');
    t.deepEqual([...seen].sort(), ['+ server', '+ vip', '- server', '- vip', '~ server', '~ vip'], 'VIPs and servers added, removed and changed');
    // every table of a generation differs between the files but the local ID (it owns streamed frames)
    const differ = Object.keys(tablesA).filter((k) => tablesA[k as keyof typeof tablesA] !== tablesB[k as keyof typeof tablesB]);
    t.deepEqual(differ.sort(), ['keys', 'peers', 'servers', 'txPorts', 'vips'], 'the tables that differ between a.json and b.json');
    zeroLoss(t, r);
    t.true(r.sent >= APPLIES * 100, `the stream ran through every apply (${r.sent} frames)`);
    countersAgree(t, lab, before, r);
  } finally {
    lab.destroy();
  }
});

privilegedSerial(`agent restarts under a live stream: ${RESTARTS} restarts (SIGTERM and kill -9 by turns), each by the other installation's agent, which swaps its build in at start: 0 frames lost or misrouted, counters exact`, async (t) => {
  t.timeout(900_000);
  const lab = new StreamLab();
  let a: AgentProc | undefined;
  try {
    const next = installation('next', UPGRADE_OBJ);
    const file = writeJson(path.join(lab.dir, 'qs.json'), lab.config());
    a = new AgentProc(lab.rs.name, lab.fs.dir, file);
    await a.ready();
    const before = stats(lab);
    let prog = lab.rs.xdpProgId(lab.ifname)!;
    const problems: string[] = [];
    const ends = { SIGTERM: 0, SIGKILL: 0 };
    const stream = await startStream(lab);
    const t0 = Date.now();
    let r: StreamResult;
    try {
      for (let i = 0; i < RESTARTS; i++) {
        const sig = i % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
        a.kill(sig);
        const end = await a.exited;
        if (sig === 'SIGTERM' && end.code !== 0) problems.push(`restart ${i}: SIGTERM exit ${end.code ?? end.signal}`);
        ends[sig]++;
        const inst = i % 2 === 0 ? next : CHECKOUT;
        a = new AgentProc(lab.rs.name, lab.fs.dir, file, [], inst.shim);
        await a.ready();
        const running = lab.rs.xdpProgId(lab.ifname)!;
        const up = a.events.find((e) => e.event === 'upgraded');
        if (!up || running === prog || up.to !== running) problems.push(`restart ${i}: ${up ? up.msg : 'no upgrade logged'}; prog ${prog} -> ${running}`);
        if (!a.events.some((e) => e.event === 'unchanged' && e.trigger === 'start')) problems.push(`restart ${i}: the tables were not as the file says`);
        prog = running;
      }
    } finally {
      r = await stream.stop();
    }
    t.log(`${RESTARTS} agent restarts (${ends.SIGTERM} after SIGTERM, ${ends.SIGKILL} after kill -9), each an upgrade, ${((Date.now() - t0) / RESTARTS).toFixed(0)} ms each; ${describe(r)}`);
    t.deepEqual(problems, [], 'every new agent found the tables as the file says and swapped its build in');
    zeroLoss(t, r);
    t.true(r.sent >= RESTARTS * 100, `the stream ran through every restart (${r.sent} frames)`);
    countersAgree(t, lab, before, r);
  } finally {
    if (a) {
      a.kill('SIGKILL');
      await a.exited;
    }
    lab.destroy();
  }
});

privilegedSerial('controls: the stream sees a swap to a build that drops (lost) and an apply that moves one owner and takes another down (misrouted)', async (t) => {
  t.timeout(120_000);
  const lab = new StreamLab();
  try {
    const drop = installation('drop', DROP_OBJ);
    const good = writeJson(path.join(lab.dir, 'qs.json'), lab.config());
    ok(lab.q(['apply', '-f', good]), 'apply');

    // lost: the broken build swapped in for 200 ms, the same way as an upgrade, then the shipped one back
    let before = stats(lab);
    let s = await startStream(lab);
    await pause(300);
    t.is(attach(lab, drop).program, 'updated');
    await pause(200);
    t.is(attach(lab, CHECKOUT).program, 'updated');
    await pause(300);
    let r = await s.stop();
    t.log(`drop build for 200 ms: ${describe(r)}`);
    t.is(r.captureDropped, 0);
    t.true(r.lost > 0, 'frames dropped while the broken build ran are counted lost');
    t.is(r.misrouted, 0);
    t.is(r.owner + r.lost, r.sent);
    t.true(r.lostRuns.length >= 1 && r.lostRuns[0]![0] > 0, 'the loss starts after the stream did');
    countersAgree(t, lab, before, r);

    // misrouted: one streamed owner's MAC changed (steered to the wrong place), another marked down (passed up)
    const cfg = lab.config();
    const [moved, down] = [lab.peers[1]!, lab.peers[2]!];
    const bad = writeJson(path.join(lab.dir, 'bad.json'), {
      ...cfg,
      servers: cfg.servers.map((x) => (x.id === moved.id ? { ...x, mac: '02:5e:00:00:00:99' } : x.id === down.id ? { ...x, state: 'down' } : x)),
    });
    before = stats(lab);
    s = await startStream(lab);
    await pause(300);
    ok(lab.q(['apply', '-f', bad]), 'apply bad.json');
    await pause(200);
    ok(lab.q(['apply', '-f', good]), 'apply qs.json');
    await pause(300);
    r = await s.stop();
    t.log(`one owner moved and one down for 200 ms: ${describe(r)}`);
    t.is(r.captureDropped, 0);
    t.is(r.lost, 0);
    t.true(r.byOwner[moved.id]!.misrouted > 0 && r.byOwner[down.id]!.misrouted > 0, 'both owners\' frames misrouted');
    t.deepEqual(Object.keys(r.misroutedTo).sort(), ['02:5e:00:00:00:99', 'local']);
    t.deepEqual([r.byOwner[lab.localId]!.misrouted, r.byOwner[lab.peers[0]!.id]!.misrouted], [0, 0], 'the other owners\' frames were not');
  } finally {
    lab.destroy();
  }
});
