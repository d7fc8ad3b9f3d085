// Three real servers agree on the owner of every gQUIC connection (issue 17), in namespaces with the
// real CLI and the shipped XDP program: each runs quicsteer on eth0 with the same gquic VIP and the
// same server list, and a director namespace sends every client CID, in each gQUIC header form, to
// each server in turn (its neighbour entry for the VIP names the server, as IPVS-DR's MAC rewrite
// would). Every copy of a CID must reach the one owner the Maglev table computed here says, whichever
// server it landed on; every copy's path and every counter `quicsteer stats --json` shows must be the
// TS reference's over the tables each server's commands wrote. Then one server leaves the list
// (removed, then down instead): only the CIDs it owned and Maglev's churn move. Controls: the same
// packets on the VIP without `--cid gquic` stay where they land, and a server whose list misses a
// peer breaks the agreement the test checks.
//
//   director 192.0.2.254 ──┬── rs1 192.0.2.1  (VIP on lo, quicsteer on eth0, a UDP listener on VIP:443)
//                          ├── rs2 192.0.2.2      "
//                          └── rs3 192.0.2.3      "                              (bridge br0)
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { GquicForms, GquicVersion, ServerState, type GquicFormName } from '../../src/bpf/layout.js';
import { parseSpec, specsToVip } from '../../src/control/spec.js';
import { gquicOwner, maglevTable } from '../../src/datapath/maglev.js';
import { decide } from '../../src/datapath/reference.js';
import { macBytes, serverValue } from '../../src/datapath/tables.js';
import { NapiPorts } from '../../src/lab/napi.js';
import { claimChild } from '../../src/lab/owner.js';
import { privilegedSerial } from '../helpers/env.js';
import { ROOT } from '../helpers/paths.js';
import { Netns, sh } from '../helpers/netns.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { tempDir } from '../helpers/tmp.js';
import { cliAsync, cliJson, type CliResult } from '../helpers/cli.js';
import { Listener, settle } from '../helpers/listener.js';
import { Rng } from '../helpers/fuzz.js';
import { frame, gquicLong, gquicShort, q043Header } from '../helpers/frames.js';
import { referenceState, type World } from '../helpers/world.js';

const VIP = '198.51.100.10';
const PORT = 443;
const DIRECTOR_IP = '192.0.2.254';
const IETF_SPEC = 'quic-lb:sid=2,nonce=6';
const PEER = path.join(ROOT, 'build/dist/test/helpers/udp-peer.js');
const SERVERS = [
  { name: 'rs1', ip: '192.0.2.1', sid: '0001' },
  { name: 'rs2', ip: '192.0.2.2', sid: '0002' },
  { name: 'rs3', ip: '192.0.2.3', sid: '0003' },
] as const;
type Rs = (typeof SERVERS)[number]['name'];
const RS = SERVERS.map((s) => s.name);
const rsOf = (sid: string): Rs => SERVERS.find((s) => s.sid === sid)!.name;
const sidOf = (r: Rs): string => SERVERS.find((s) => s.name === r)!.sid;

/** Random client CIDs (seeded), and one per server whose bytes also read as that server's QUIC-LB ID (cr 0). */
const SEED = 17;
const K = 500;
const rng = new Rng(SEED);
const RANDOM_CIDS = Array.from({ length: K }, () => rng.bytes(8));
const ID_CIDS = SERVERS.map((s) => Buffer.concat([Buffer.from([0x07]), Buffer.from(s.sid, 'hex'), rng.bytes(5)]));
const CIDS = [...RANDOM_CIDS, ...ID_CIDS];
const RANDOM = RANDOM_CIDS.map((_, i) => i);
/** datagrams a second from the director: at 4,000 one landing server's 2,012 take half a second */
const RATE = 4000;

/** Each form as a client sends it: Q043 with its version (a 1-byte packet number), Q046/Q050 Initials with an 8-byte DCID, a short header. */
const HEADER: Record<GquicFormName, (cid: Buffer) => Buffer> = {
  Q043: (cid) => q043Header({ cid, version: GquicVersion.Q043, pnLen: 1 }),
  Q046: (cid) => gquicLong({ version: 'Q046', dcid: cid }),
  Q050: (cid) => gquicLong({ version: 'Q050', dcid: cid }),
  SHORT: (cid) => gquicShort(cid),
};
const MAGIC = Buffer.from('qsgl');

/** A datagram: the form's header, then a tag the listener's copy is matched by (landing server, form, CID index). */
function datagram(form: GquicFormName, cid: number, landing: number): Buffer {
  return Buffer.concat([HEADER[form](CIDS[cid]!), MAGIC, Buffer.from([landing, GquicForms.indexOf(form)]), Buffer.from([cid >> 8, cid & 0xff])]);
}

function untag(hex: string): { landing: Rs; form: GquicFormName; cid: number } {
  const d = Buffer.from(hex, 'hex');
  const t = d.subarray(d.length - 8);
  if (!t.subarray(0, 4).equals(MAGIC)) throw new Error(`a datagram the lab did not send: ${hex}`);
  return { landing: RS[t[4]!]!, form: GquicForms[t[5]!]!, cid: t.readUInt16BE(6) };
}

// ---- what each server should do with each copy: the TS reference (src/datapath/reference.ts) over
// the tables each server's commands wrote; the owners themselves are checked against the Maglev table too

type State = 'up' | 'down' | 'drain';
/** One server's configuration as its CLI commands set it. */
interface View {
  gquic: boolean;
  /** server ID (hex) -> state */
  servers: Map<string, State>;
}

const STATE = { up: ServerState.UP, down: ServerState.DOWN, drain: ServerState.DRAIN } as const;
const tables = new Map<string, ReturnType<typeof maglevTable>>();

/** The Maglev owner (ID hex) of a client CID over these up servers, or null with none. */
function maglevOwner(up: string[], cid: Buffer): string | null {
  const key = [...up].sort().join(',');
  if (!tables.has(key)) tables.set(key, maglevTable(up.map((id) => Buffer.from(id, 'hex'))));
  return gquicOwner(tables.get(key)!, cid);
}

/** What server `at`'s maps hold, as `quicsteer` wrote them from the view: the VIP, the servers (the local one too), their MACs as peers. */
function world(at: Rs, v: View, mac: Record<Rs, string>): World {
  const specs = [parseSpec(IETF_SPEC), ...(v.gquic ? [parseSpec('gquic')] : [])];
  const ids = [...v.servers.keys()];
  return {
    vips: [{ ip: VIP, port: PORT, vip: specsToVip(specs, 'the lab VIP') }],
    servers: ids.map((sid, slot) => ({ sid, server: serverValue({ mac: macBytes(mac[rsOf(sid)]), state: STATE[v.servers.get(sid)!], slot }) })),
    localId: sidOf(at),
    peers: ids.map((sid) => macBytes(mac[rsOf(sid)])),
    txPorts: [],
  };
}

type Hop = { at: Rs; reason: string; form?: string; to?: Rs };

/** Where a copy landing on `landing` ends up, and each server's decision on the way (a steered copy is decided again where it arrives). */
function route(states: Record<Rs, ReturnType<typeof referenceState>>, mac: Record<Rs, string>, directorMac: string, payload: Buffer, landing: Rs): { at: Rs; hops: Hop[] } {
  const hops: Hop[] = [];
  let f = frame({ dst: macBytes(mac[landing]), src: macBytes(directorMac), ip: { v: 4, src: DIRECTOR_IP, dst: VIP }, udp: { sport: 40000, dport: PORT }, payload });
  let at = landing;
  for (;;) {
    const d = decide(f, states[at]);
    const to = d.reason === 'STEERED' ? RS.find((r) => macBytes(mac[r]).equals(d.output.subarray(0, 6))) : undefined;
    hops.push({ at, reason: d.reason.toLowerCase(), form: d.gquic?.form.toLowerCase(), to });
    if (!to) return { at, hops };
    if (hops.length > 3) throw new Error('a steering loop the loop guard should have stopped');
    f = d.output;
    at = to;
  }
}

// ---- the lab

type Counters = Record<string, { packets: number }>;
/** `quicsteer stats --json`: packets by reason, steered packets by owner, gQUIC packets by form and reason */
type Stats = { reasons: Counters; servers: Counters; gquic: Record<string, Counters> };
/** the gQUIC counters as `form/reason` */
const flatGquic = (s: Stats): Counters => Object.fromEntries(Object.entries(s.gquic).flatMap(([form, rs]) => Object.entries(rs).map(([r, c]) => [`${form}/${r}`, c])));

class GquicLab {
  readonly sw = new Netns('qs-gsw');
  readonly director = new Netns('qs-gdir');
  readonly rs = {} as Record<Rs, Netns>;
  readonly pins = {} as Record<Rs, TempBpffs>;
  readonly mac = {} as Record<Rs, string>;
  directorMac = '';
  readonly tmp = tempDir('qs-glab');
  /** each server's configuration, as the commands run so far set it */
  readonly views = {} as Record<Rs, View>;
  #napi: NapiPorts | undefined;

  constructor() {
    try {
      for (const s of SERVERS) this.rs[s.name] = new Netns(`qs-g${s.name}`);
      this.#build();
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  #build(): void {
    this.sw.ip('link', 'add', 'br0', 'type', 'bridge');
    this.sw.ip('link', 'set', 'br0', 'up');
    this.sw.plug(this.director, 'sw-dir', 'eth0', `${DIRECTOR_IP}/24`);
    for (const s of SERVERS) {
      this.sw.plug(this.rs[s.name], `sw-${s.name}`, 'eth0', `${s.ip}/24`);
      this.mac[s.name] = this.rs[s.name].mac('eth0');
    }
    this.directorMac = this.director.mac('eth0');
    // veth leaves UDP checksums to "offload" and XDP_TX drops that promise; real NICs fill them in
    sh('ip', 'netns', 'exec', this.director.name, 'ethtool', '-K', 'eth0', 'tx', 'off');
    this.director.ip('route', 'add', `${VIP}/32`, 'dev', 'eth0');
    // XDP_TX into a veth needs NAPI on the peer: on each bridge port
    this.#napi = new NapiPorts(this.sw, ['sw-dir', ...RS.map((r) => `sw-${r}`)]);
  }

  /** quicsteer on one real server (its namespace, its pin path); throws the error line. */
  async q(r: Rs, ...args: string[]): Promise<CliResult> {
    const res = await cliAsync(['--pin-path', this.pins[r].dir, ...args], { ns: this.rs[r].name });
    if (res.code !== 0) throw new Error(`${r}: quicsteer ${args.join(' ')}: exit ${res.code}: ${res.stderr.trim()}`);
    return res;
  }

  /** The same command on each server at once (each with its own arguments). */
  async each(args: (r: Rs) => string[], on: readonly Rs[] = RS): Promise<void> {
    await Promise.all(on.map((r) => this.q(r, ...args(r))));
  }

  /** Every server: IPVS-DR's real-server side, quicsteer attached with its ID, the VIP (IETF layout only), all three servers. */
  async setup(): Promise<void> {
    await this.each((r) => {
      this.pins[r] = new TempBpffs();
      return ['realserver', 'setup', '--vip', VIP, '--state', path.join(this.tmp, `${r}-realserver.json`)];
    });
    await this.each((r) => ['attach', 'eth0', '--id', sidOf(r)]);
    await this.vip(false);
    for (const s of SERVERS) await this.addServer(s.name, RS);
  }

  /** `vips add` on every server: the IETF layout, with `--cid gquic` or without. */
  async vip(gquic: boolean): Promise<void> {
    await this.each(() => ['vips', 'add', `${VIP}:${PORT}`, '--cid', IETF_SPEC, ...(gquic ? ['--cid', 'gquic'] : [])]);
    for (const r of RS) this.views[r] = { gquic, servers: this.views[r]?.servers ?? new Map() };
  }

  async addServer(who: Rs, on: readonly Rs[]): Promise<void> {
    await this.each(() => ['servers', 'add', sidOf(who), '--mac', this.mac[who]], on);
    for (const r of on) this.views[r]!.servers.set(sidOf(who), 'up');
  }

  async removeServer(who: Rs, on: readonly Rs[]): Promise<void> {
    await this.each(() => ['servers', 'remove', sidOf(who)], on);
    for (const r of on) this.views[r]!.servers.delete(sidOf(who));
  }

  async setState(who: Rs, state: State, on: readonly Rs[]): Promise<void> {
    await this.each(() => ['servers', 'set', sidOf(who), '--state', state], on);
    for (const r of on) this.views[r]!.servers.set(sidOf(who), state);
  }

  async stats(): Promise<Record<Rs, Stats>> {
    const all = await Promise.all(RS.map(async (r) => [r, cliJson<Stats>(await this.q(r, 'stats', '--json'))] as const));
    return Object.fromEntries(all) as Record<Rs, Stats>;
  }

  /** The director sends the VIP to this server's MAC (IPVS-DR's choice). */
  point(to: Rs): void {
    this.director.ip('neigh', 'replace', VIP, 'lladdr', this.mac[to], 'dev', 'eth0', 'nud', 'permanent');
  }

  /** Sends the datagrams from the director, RATE a second, each once. */
  async send(datagrams: Buffer[], name: string): Promise<void> {
    const file = path.join(this.tmp, `${name}.hex`);
    writeFileSync(file, datagrams.map((d) => d.toString('hex')).join('\n'));
    const p = spawn('ip', ['netns', 'exec', this.director.name, process.execPath, PEER, 'batch', VIP, String(PORT), file, String(RATE)], { stdio: ['ignore', 'pipe', 'inherit'] });
    claimChild(p);
    let text = '';
    p.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
    const r = code === 0 ? (JSON.parse(text) as { sent: number; failed: number[] }) : undefined;
    if (!r || r.sent !== datagrams.length || r.failed.length) throw new Error(`director: sender exited ${code}, printed '${text.trim()}'`);
  }

  destroy(): void {
    this.#napi?.close();
    for (const ns of [this.director, ...Object.values(this.rs), this.sw]) ns.destroy();
    for (const p of Object.values(this.pins)) p.destroy();
  }
}

// ---- one round: every CID in every form to every server in turn

interface Round {
  /** where each copy arrived: key `${form}/${cid}/${landing}` */
  got: Map<string, Rs>;
  /** copies that arrived more than once, or not at all */
  duplicates: number;
  missing: number;
  /** per server: the change of each reason counter and of each per-owner steered counter, as `quicsteer stats --json` shows them */
  reasons: Record<Rs, Record<string, number>>;
  steeredTo: Record<Rs, Record<string, number>>;
  /** gQUIC packets by `form/reason` */
  gquic: Record<Rs, Record<string, number>>;
}

const copyKey = (form: GquicFormName, cid: number, landing: Rs) => `${form}/${cid}/${landing}`;

async function round(lab: GquicLab, name: string): Promise<Round> {
  const ls = Object.fromEntries(RS.map((r) => [r, new Listener(lab.rs[r], VIP, PORT)])) as Record<Rs, Listener>;
  try {
    await Promise.all(RS.map((r) => ls[r].ready));
    const before = await lab.stats();
    for (const [i, landing] of RS.entries()) {
      lab.point(landing);
      await lab.send(GquicForms.flatMap((f) => CIDS.map((_, c) => datagram(f, c, i))), `${name}-${landing}`);
    }
    const total = RS.length * GquicForms.length * CIDS.length;
    await settle(Object.values(ls), total);
    const got = new Map<string, Rs>();
    let duplicates = 0;
    for (const r of RS) {
      for (const m of ls[r].take()) {
        const t = untag(m.data);
        const k = copyKey(t.form, t.cid, t.landing);
        if (got.has(k) || m.from !== DIRECTOR_IP) duplicates++;
        got.set(k, r);
      }
    }
    const after = await lab.stats();
    const delta = (pick: (s: Stats) => Counters) =>
      Object.fromEntries(
        RS.map((r) => {
          const [a, b] = [pick(after[r]), pick(before[r])];
          return [r, Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v.packets - (b[k]?.packets ?? 0)]).filter(([, n]) => n !== 0))];
        }),
      ) as Record<Rs, Record<string, number>>;
    return { got, duplicates, missing: total - got.size, reasons: delta((s) => s.reasons), steeredTo: delta((s) => s.servers), gquic: delta(flatGquic) };
  } finally {
    for (const l of Object.values(ls)) l.stop();
  }
}

/** What the reference says the round should show, from each server's tables: each copy's receiver, and each server's counters. */
function expectRound(lab: GquicLab): Pick<Round, 'got' | 'reasons' | 'steeredTo' | 'gquic'> {
  const states = Object.fromEntries(RS.map((r) => [r, referenceState(world(r, lab.views[r], lab.mac), () => 0)])) as Record<Rs, ReturnType<typeof referenceState>>;
  const got = new Map<string, Rs>();
  const perServer = () => Object.fromEntries(RS.map((r) => [r, {}])) as Record<Rs, Record<string, number>>;
  const [reasons, steeredTo, gquic] = [perServer(), perServer(), perServer()];
  const bump = (o: Record<string, number>, k: string) => (o[k] = (o[k] ?? 0) + 1);
  for (const form of GquicForms)
    for (const c of CIDS.keys())
      for (const [i, landing] of RS.entries()) {
        const r = route(states, lab.mac, lab.directorMac, datagram(form, c, i), landing);
        got.set(copyKey(form, c, landing), r.at);
        for (const h of r.hops) {
          bump(reasons[h.at], h.reason);
          if (h.to) bump(steeredTo[h.at], sidOf(h.to));
          if (h.form) bump(gquic[h.at], `${h.form}/${h.reason}`);
        }
      }
  return { got, reasons, steeredTo, gquic };
}

/** Per CID and form: the servers its three copies reached (one server = the servers agree). */
function receivers(got: Map<string, Rs>, cids: number[]): Map<string, Set<Rs>> {
  const out = new Map<string, Set<Rs>>();
  for (const form of GquicForms)
    for (const c of cids) {
      const s = new Set<Rs>();
      for (const landing of RS) {
        const at = got.get(copyKey(form, c, landing));
        if (at) s.add(at);
      }
      out.set(`${form}/${c}`, s);
    }
  return out;
}

/** the counters' change on every server, without the reasons other traffic moves (neighbour discovery: not_vip) */
const ours = (x: Record<Rs, Record<string, number>>) => Object.fromEntries(RS.map((r) => [r, Object.fromEntries(Object.entries(x[r]).filter(([k]) => k !== 'not_vip'))]));

/** Checks a round against the reference's expectation; returns the CIDs (random ones, per form) whose copies did not all reach one server. */
function check(t: ExecutionContext, lab: GquicLab, got: Round, what: string): number {
  const want = expectRound(lab);
  t.is(got.missing, 0, `${what}: every copy arrived`);
  t.is(got.duplicates, 0, `${what}: each once, from the director's address`);
  const wrong = [...want.got].filter(([k, at]) => got.got.get(k) !== at);
  t.deepEqual(wrong.slice(0, 5).map(([k, at]) => `${k}: expected ${at}, got ${got.got.get(k)}`), [], `${what}: every copy at the server the reference says (${wrong.length} not)`);
  t.deepEqual(ours(got.reasons), ours(want.reasons), `${what}: stats --json reasons moved by the packets steered / kept`);
  t.deepEqual(got.steeredTo, want.steeredTo, `${what}: stats --json per-owner steered counters`);
  t.deepEqual(got.gquic, want.gquic, `${what}: stats --json gQUIC counters by form and reason`);
  return [...receivers(got.got, RANDOM).values()].filter((s) => s.size !== 1).length;
}

privilegedSerial('gQUIC: three real servers agree on every client CID\'s Maglev owner; a removed server moves only its own and Maglev\'s churn', async (t) => {
  t.timeout(240_000);
  const lab = new GquicLab();
  try {
    await lab.setup();
    const copies = GquicForms.length * RANDOM.length;

    // control: the VIP without --cid gquic. Each copy stays where the director put it: no agreement
    const plain = await round(lab, 'plain');
    const plainSplit = check(t, lab, plain, 'no gquic');
    const stayed = RANDOM.every((c) => GquicForms.every((f) => RS.every((l) => plain.got.get(copyKey(f, c, l)) === l)));
    t.true(stayed, 'no gquic: every copy of a random CID stays on the server it landed on');
    t.is(plainSplit, copies, 'no gquic: no random CID reaches one server from all three');
    t.log(`no gquic: ${plainSplit} of ${copies} random (CID, form) pairs split across servers; stats rs1 ${JSON.stringify(plain.reasons.rs1)}`);

    // the feature: --cid gquic beside the IETF layout
    await lab.vip(true);
    const full = await round(lab, 'gquic');
    t.is(check(t, lab, full, 'gquic'), 0, 'gquic: all three copies of every CID, in every form, reach one server');
    const owner = (c: number) => rsOf(maglevOwner(['0001', '0002', '0003'], CIDS[c]!)!);
    t.true(RANDOM.every((c) => GquicForms.every((f) => RS.every((l) => full.got.get(copyKey(f, c, l)) === owner(c)))), 'gquic: that server is the Maglev owner of the three-server table');
    const share = Object.fromEntries(RS.map((r) => [r, RANDOM.filter((c) => owner(c) === r).length]));
    t.log(`gquic: ${RANDOM.length} random CIDs x ${GquicForms.length} forms x 3 landing servers; owners ${JSON.stringify(share)}; stats ${JSON.stringify(full.reasons)}; gquic ${JSON.stringify(full.gquic)}`);

    // control: rs1's list misses rs2. The test sees the servers disagree
    await lab.removeServer('rs2', ['rs1']);
    const skewed = await round(lab, 'skewed');
    const split = check(t, lab, skewed, 'rs1 without rs2');
    t.true(split > 0, 'rs1 without rs2: copies of some CIDs reach different servers, and the agreement check says so');
    t.log(`rs1 without rs2: ${split} of ${copies} random (CID, form) pairs split across servers`);
    await lab.addServer('rs2', ['rs1']);

    // rs3 leaves the list on all three
    await lab.removeServer('rs3', RS);
    const removed = await round(lab, 'removed');
    t.is(check(t, lab, removed, 'rs3 removed'), 0, 'rs3 removed: every CID still reaches one server');
    const at = (r: Round, c: number) => r.got.get(copyKey('Q043', c, 'rs1'))!;
    const moved = RANDOM.filter((c) => at(removed, c) !== at(full, c));
    const movedOwn = moved.filter((c) => at(full, c) === 'rs3').length;
    const ownedBefore = RANDOM.filter((c) => at(full, c) === 'rs3').length;
    t.is(movedOwn, ownedBefore, "rs3 removed: every CID rs3 owned moved");
    // the same over the whole table: slots not rs3's whose owner changed
    const before3 = maglevTable(['0001', '0002', '0003'].map((h) => Buffer.from(h, 'hex')));
    const after2 = maglevTable(['0001', '0002'].map((h) => Buffer.from(h, 'hex')));
    const ownerAt = (m: ReturnType<typeof maglevTable>, slot: number) => m.members[m.table[slot]!]!.toString('hex');
    let [slotChurn, slots3] = [0, 0];
    for (let slot = 0; slot < before3.table.length; slot++) {
      if (ownerAt(before3, slot) === '0003') slots3++;
      else if (ownerAt(before3, slot) !== ownerAt(after2, slot)) slotChurn++;
    }
    t.log(
      `rs3 removed: moved ${moved.length} of ${RANDOM.length} random CIDs: ${movedOwn} owned by rs3 (of ${ownedBefore}), ${moved.length - movedOwn} not (Maglev's churn); ` +
        `over the whole table ${slots3} of ${before3.table.length} slots were rs3's, and ${slotChurn} of the other ${before3.table.length - slots3} changed owner`,
    );
    t.true(RANDOM.every((c) => at(removed, c) === rsOf(maglevOwner(['0001', '0002'], CIDS[c]!)!)), 'rs3 removed: each at the two-server table\'s owner');

    // rs3 back, but down on all three: the same owners as without it
    await lab.addServer('rs3', RS);
    await lab.setState('rs3', 'down', RS);
    const down = await round(lab, 'down');
    t.is(check(t, lab, down, 'rs3 down'), 0, 'rs3 down: every CID still reaches one server');
    t.true(RANDOM.every((c) => at(down, c) === at(removed, c)), 'rs3 down: the owners of rs3 removed');
    // a CID that reads as rs3's QUIC-LB ID: rs3 keeps it (its own ID), the others pass it (peer down)
    const id3 = CIDS.length - 1;
    t.deepEqual(RS.map((l) => down.got.get(copyKey('SHORT', id3, l))), RS, "rs3 down: a CID carrying rs3's ID stays where it lands");
  } finally {
    lab.destroy();
  }
});
