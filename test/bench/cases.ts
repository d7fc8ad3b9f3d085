// make bench's cases: every figure is measured next to a floor from the same run (this machine is
// shared and noisy: absolute times move between runs, ratios measured together hold). The samples of
// a group interleave its cases, so a noisy moment hits all of them alike. Used by run.ts and, with
// tiny repeats, by test/priv/bench-smoke.test.ts.
//   data path  ns/packet through BPF_PROG_TEST_RUN per packet class, on tables the CLI applied, through
//              the restoring harness (test/bench/world.ts); floors from bpf/bench/floors.bpf.c
//   breakdown  the program built to stop after each stage (QS_BENCH_STOP), what each stage adds
//   scale      the same program built for 65,536 servers, with 1,024 VIPs (SCALE_DEFS in the Makefile)
//   veth rate  Mpps through a veth pair (BPF_F_TEST_XDP_LIVE_FRAMES), steered vs the MAC-rewrite floor
//   verifier   instructions the verifier processed, program sizes
//   control    wall time of quicsteer apply / status / attach / detach vs a bare node start
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Link, ObjectSpec, XdpAction, type Collection, type Program } from '../../src/bpf/index.js';
import { u32, u64, whole } from '../../src/bpf/codec.js';
import { CidFormat, Counter, GquicVersion, LbFlags, PEER_SLOTS, Reasons, VIP_SLOTS, type GquicFormName, type ReasonName, type ServerIdT, type ServerT } from '../../src/bpf/layout.js';
import { native } from '../../src/bpf/native.js';
import { SERVER_TABLE, build, generationInfo, generationMaps, publish, publishImage, readLive, waitForReaders, type Image } from '../../src/datapath/install.js';
import { withWriteLock } from '../../src/control/lock.js';
import { homeSlot, macKey, macString, placeKeys, serverValue, sidKey, vipKey, vipValue } from '../../src/datapath/tables.js';
import { CID, fixtures, v4 } from '../helpers/fixtures.js';
import { ROOT } from '../helpers/paths.js';
import { CLIENT4, Harness, LOCAL_SID, MAC_PEER, MAC_RS2, PORT_GQUIC_LB, PORT_QUIC_LB, VIP4 } from '../helpers/world.js';
import { BENCH_KEY, BenchWorld, ENC_BENCH, OBJECTS, PORT_ENC, benchConfig, type AlsoCounted } from './world.js';
import { MAC_SELF, frame, gquicShort, q043Header, shortHeader } from '../helpers/frames.js';
import { gquicOwner, maglevTable } from '../../src/datapath/maglev.js';
import { encodeCid } from '../../src/quic/quic-lb.js';
import { CIPHER, kernelCrypto, kernelHasCryptoKfuncs } from '../../src/datapath/crypto.js';

export interface BenchOptions {
  /** BPF_PROG_TEST_RUN runs per sample (the kernel reports the mean). */
  repeat: number;
  /** Interleaved samples per BPF figure. */
  samples: number;
  /** Frames per live-frames sample. */
  liveRepeat: number;
  /** Runs per control-plane figure. */
  cliRuns: number;
}

/** A target: the ratio to the floor (or the value itself) against a limit. */
export interface Goal {
  on: 'ratio' | 'value';
  op: '<=' | '<' | '>=';
  limit: number;
}

export interface Row {
  section: string;
  figure: string;
  unit: 'ns' | 'µs' | 'Mpps' | 'ms' | 'insns' | 'bytes';
  /** The best sample (least disturbed by neighbours): min of times, max of rates. */
  value: number;
  median: number;
  samples: number[];
  floor?: { figure: string; value: number };
  ratio?: number;
  /** value - floor value, shown instead of the ratio (the cost breakdown's stages) */
  delta?: number;
  goal?: Goal;
  verdict: 'met' | 'missed' | '—';
  /** What it takes to read the row right (printed under the table). */
  note?: string;
}

/** A row before judging: its floor may still be named by another row's figure. */
type Measured = Omit<Row, 'ratio' | 'verdict' | 'delta'> & { floorOf?: string; delta?: boolean };

const OBJ = {
  scale: path.join(ROOT, 'build/bpf/quicsteer_scale.bpf.o'),
};
// The scale build's table slots: SCALE_DEFS in the Makefile (a mismatch fails at the first table swap).
const SCALE_SERVER_SLOTS = 262144;

const PASS_FLOOR = 'XDP_PASS floor';
const MAC_FLOOR = 'MAC-rewrite floor';
const HARNESS = 'restoring harness, own cost';
const STEER_NET = 'short header, steered, net of XDP_PASS';
// The goals: a steered short header at most 20 ns above XDP_PASS and 3x the MAC-rewrite
// floor; every other packet class at most 2x that floor.
const STEER_NET_GOAL_NS = 20;
// The cost breakdown's stages, in program order (QS_BENCH_STOP=1..7 in bpf/quicsteer.bpf.c).
const STAGES = [
  'parse Ethernet/IP/UDP',
  '+ VIP lookup',
  '+ QUIC header',
  '+ server ID from the CID',
  '+ local check, owner lookup',
  '+ loop guard',
  '+ MAC rewrite, XDP_TX',
];

// Packet classes of the data path: figure, fixture row (test/helpers/fixtures.ts), goal as × MAC-rewrite floor.
const CLASSES: [string, string, number][] = [
  ['short header, steered (XDP_TX)', 'IPv4, short header to RS2', 3],
  ['short header, own ID (local)', 'own server ID: delivered locally', 2],
  ['Handshake, steered', 'v1 Handshake to RS2', 2],
  ['Initial (passed)', 'v1 Initial: the director decides', 2],
  ['UDP to a VIP, not QUIC (empty)', 'empty UDP payload', 2],
  ['UDP to a VIP address, other port', 'UDP to another port of the VIP address', 2],
  ['UDP to a non-VIP address', 'UDP to another address', 2],
  ['IPv6 short header, steered', 'IPv6, short header to RS2', 2],
  ['802.1Q-tagged short header, steered', '802.1Q tagged, short header to RS2', 2],
  ['CID QUIC-LB, 3-byte ID, steered', 'QUIC-LB config 1 (3-byte server ID)', 2],
  ['CID fixed offset (MsQuic), steered', 'MsQuic short header to 192.0.2.2', 2],
  ['CID mvfst v1, steered', 'mvfst v1 (16-bit host id in bits 2..17)', 2],
  ['CID mvfst v3, steered', 'mvfst v3 (32-bit host id)', 2],
  ['devmap redirect, steered', 'owner behind another interface: devmap redirect with its MAC', 2],
];

// "Lookup cost must not grow": a bigger table may cost at most this much more than the smallest.
const SCALE_GOAL = 1.1;
// Goals of the issue: delivered rate vs the floor's; `quicsteer status` cold start; 10,000 servers applied.
const RATE_GOAL = 0.9;
const STATUS_GOAL_MS = 300;
const APPLY_GOAL_MS = 1000;
// The fleet: 10,000 servers, each a host of its own (10,000 MACs in the peer set).
const APPLY_SERVERS = 10000;

/** One figure being measured: how it is reported, and how to take one sample. */
interface Case {
  row: Omit<Measured, 'value' | 'median' | 'samples'>;
  sample(): number;
}

/** Runs every case `samples` times, interleaved. */
function measure(cases: Case[], samples: number): Measured[] {
  const xs = cases.map(() => [] as number[]);
  for (let s = 0; s < samples; s++) cases.forEach((c, i) => xs[i]!.push(c.sample()));
  return cases.map((c, i) => {
    const sorted = [...xs[i]!].sort((a, b) => a - b);
    const value = c.row.unit === 'Mpps' ? sorted[sorted.length - 1]! : sorted[0]!;
    return { ...c.row, value, median: sorted[Math.floor(sorted.length / 2)]!, samples: xs[i]! };
  });
}

/** Resolves floors named by figure, then ratio and verdict. */
function judge(rows: Measured[]): Row[] {
  const byFigure = new Map(rows.map((r) => [r.figure, r]));
  return rows.map(({ floorOf, delta: showDelta, ...r }) => {
    const floor = floorOf === undefined ? r.floor : { figure: floorOf, value: byFigure.get(floorOf)!.value };
    const ratio = floor ? r.value / floor.value : undefined;
    const delta = showDelta && floor ? r.value - floor.value : undefined;
    if (!r.goal) return { ...r, floor, ratio, delta, verdict: '—' };
    const x = r.goal.on === 'ratio' ? ratio! : r.value;
    const ok = r.goal.op === '<=' ? x <= r.goal.limit : r.goal.op === '<' ? x < r.goal.limit : x >= r.goal.limit;
    return { ...r, floor, ratio, delta, verdict: ok ? 'met' : 'missed' };
  });
}

/** Every bench case, in table order; needs root. Its namespace, mounts and files are gone when it returns. */
export function runBench(opts: BenchOptions): Row[] {
  const h = new Harness('qs-bn');
  const open: Collection[] = [];
  let w: BenchWorld | undefined;
  try {
    // h: the namespace (veth0/veth1) and a loaded program whose maps the state-cost rows publish into
    const config = benchConfig();
    w = new BenchWorld(h.ns, config);
    const world = w;
    const table = new Map(fixtures().map((f) => [f.name, f]));
    const steer = table.get(CLASSES[0]![1])!;
    const shipped = w.build(OBJECTS.shipped).program('quicsteer_xdp');
    const run = (prog: Program, frame: Buffer, repeat: number) => h.ns.enter(() => prog.testRun({ data: frame, repeat, ingressIfindex: 1 }));

    // Every row but the bare floor runs through the restoring harness; the harness' own cost (it
    // tail-calling floor_pass, minus floor_pass alone) is measured in each round and subtracted.
    let passNs = 0;
    let harnessNs = 0;
    const lastNs = new Map<string, number>();
    // a raw sampler: checks the verdict (and, given a reason, that every run was counted under it)
    const timed = (figure: string, prog: Program, frame: Buffer, expect: number, reason?: ReasonName, counted?: (r: ReasonName) => bigint, decrypted?: 'none' | 'each', also?: AlsoCounted) => {
      // the first run fills the decrypt-once cache: the row's samples then measure what they name
      world.sample(figure, prog, frame, 1, expect, reason, counted, undefined, also);
      return () => world.sample(figure, prog, frame, opts.repeat, expect, reason, counted, decrypted, also);
    };
    const viaHarness: Sampler = (figure, prog, frame, expect, reason, counted, decrypted, also) => {
      const raw = timed(figure, prog, frame, expect, reason, counted, decrypted, also);
      return () => {
        const ns = raw() - harnessNs;
        lastNs.set(figure, ns);
        return ns;
      };
    };

    const dp = 'data path, ns/packet (BPF_PROG_TEST_RUN; frames restored by the harness before every run)';
    const pass = w.floors.program('floor_pass');
    const cases: Case[] = [
      { row: { section: dp, figure: PASS_FLOOR, unit: 'ns' }, sample: () => (passNs = run(pass, steer.frame, opts.repeat).durationNs) },
      {
        row: { section: dp, figure: HARNESS, unit: 'ns', note: `${HARNESS}: bpf/bench/harness.bpf.c puts the row's MACs back and tail-calls the program; measured on floor_pass each round and subtracted from every row below` },
        sample: (() => {
          const raw = timed(HARNESS, pass, steer.frame, XdpAction.PASS);
          return () => (harnessNs = raw() - passNs);
        })(),
      },
      {
        row: { section: dp, figure: MAC_FLOOR, unit: 'ns', floorOf: PASS_FLOOR, note: `${MAC_FLOOR}: bpf/bench/floors.bpf.c, the project's parsers (Ethernet/VLAN, IPv4, UDP), both MACs rewritten, XDP_TX` },
        sample: viaHarness(MAC_FLOOR, w.floors.program('floor_tx'), steer.frame, XdpAction.TX),
      },
      ...CLASSES.map(([figure, name, limit]): Case => {
        const f = table.get(name)!;
        return { row: { section: dp, figure, unit: 'ns', floorOf: MAC_FLOOR, goal: { on: 'ratio', op: '<=', limit } }, sample: viaHarness(figure, shipped, f.frame, f.action, f.reason) };
      }),
      {
        row: { section: dp, figure: STEER_NET, unit: 'ns', goal: { on: 'value', op: '<=', limit: STEER_NET_GOAL_NS }, note: `${STEER_NET}: the steered row minus the XDP_PASS floor, per round` },
        sample: () => lastNs.get(CLASSES[0]![0])! - passNs,
      },
    ];

    cases.push(...gquicCases(w, viaHarness, shipped, config));
    cases.push(...encryptedCases(w, viaHarness, shipped, steer.frame, steer.reason!));

    // where a steered packet's time goes: the program stopped after each stage (QS_BENCH_STOP)
    const bd = 'cost breakdown: short header steered, each build stopped after a stage (ns, harness subtracted)';
    let prev = PASS_FLOOR;
    for (const [n, stage] of STAGES.entries()) {
      const figure = `${n + 1}. ${stage}`;
      const prog = w.build(OBJECTS.stop(n + 1)).program('quicsteer_xdp');
      cases.push({ row: { section: bd, figure, unit: 'ns', floorOf: prev, delta: true }, sample: viaHarness(figure, prog, steer.frame, XdpAction.TX) });
      prev = figure;
    }
    cases.push({
      row: { section: bd, figure: `${STAGES.length + 1}. + counters: the shipped program`, unit: 'ns', floorOf: prev, delta: true },
      sample: viaHarness('breakdown: shipped', shipped, steer.frame, steer.action, steer.reason),
    });

    const sc = 'scale: short header steered, ns/packet';
    const probes: number[] = [];
    let smallest = '';
    for (const [servers, vips] of [[10, 1], [1000, 1], [65536, 1], [10, 1024]] as const) {
      const { coll, probe } = scaleWorld(servers, vips);
      open.push(coll);
      probes.push(probe);
      const figure = `${servers.toLocaleString('en')} servers, ${vips.toLocaleString('en')} VIP${vips > 1 ? 's' : ''}`;
      const more: Partial<Measured> = smallest
        ? { floorOf: smallest, goal: { on: 'ratio', op: '<=', limit: SCALE_GOAL } }
        : { floorOf: MAC_FLOOR };
      const stats = coll.perCpuMap('qs_stats', whole(u32), Counter);
      const counted = (r: ReasonName) => stats.lookup(Reasons.indexOf(r))!.reduce((a, c) => a + c.packets, 0n);
      cases.push({ row: { section: sc, figure, unit: 'ns', ...more }, sample: viaHarness(figure, coll.program('quicsteer_xdp'), steer.frame, XdpAction.TX, 'STEERED', counted) });
      smallest ||= figure;
    }
    cases.at(-1)!.row.note =
      'scale rows: quicsteer.bpf.c built with -DQS_SERVER_SLOTS=262144 (65,536 IDs; the shipped table holds 16,384, and 1,024 VIPs), ' +
      `tables written by the control plane's build and publish; the owner is placed last (probe distance ${probes.join(', ')}); ` +
      'one frame repeated, so its table entries stay in cache';
    const rows = measure(cases, opts.samples);
    rows.push(...vethRate(h, w, shipped, steer.frame, opts));
    rows.push(...verifier(shipped, w.floors.program('floor_tx')));
    rows.push(...stateCosts(h, opts));
    rows.push(...controlPlane(h.ns.name, opts));
    return judge(rows);
  } finally {
    for (const c of open) c.close();
    w?.destroy();
    h.destroy();
  }
}

/** A sampler through the harness: figure, program, frame, verdict, reason, its counter, the decrypt check, a second counter. */
type Sampler = (
  figure: string, prog: Program, frame: Buffer, expect: number, reason?: ReasonName, counted?: (r: ReasonName) => bigint, decrypted?: 'none' | 'each', also?: AlsoCounted,
) => () => number;

/** The owner the gQUIC rows steer to: RS2, the IETF steered row's owner (a peer, reached by XDP_TX). */
const GQUIC_OWNER = '0c0d';

/**
 * An 8-byte gQUIC client CID that the bench's Maglev table gives to GQUIC_OWNER, found by trying
 * CIDs in turn against the table built from the applied servers (all up: the configuration sets no
 * state). Octet 0xf0 reads as no server ID on the VIP's QUIC-LB layout (codepoint 7), so the data
 * path takes the hash path.
 */
export function gquicCid(config: { servers: { id: string }[] }): Buffer {
  const ring = maglevTable(config.servers.map((s) => Buffer.from(s.id, 'hex')));
  for (let i = 0; i < 1 << 16; i++) {
    const cid = Buffer.alloc(8);
    cid[0] = 0xf0;
    cid.writeUInt16BE(i, 6);
    if (gquicOwner(ring, cid) === GQUIC_OWNER) return cid;
  }
  throw new Error(`bench: no gQUIC CID owned by ${GQUIC_OWNER}`);
}

/**
 * gQUIC rows on the QUIC-LB + gQUIC VIP, each steered to a peer, next to the same MAC-rewrite floor
 * as the IETF steered row (on a VIP without gQUIC): Q043 and a Q046/Q050 short header by the Maglev
 * table (qs_gquic_stats moved once per run under the form), and an IETF short header by its server
 * ID (qs_gquic_decide reads it first and finds the server: no gQUIC counter moves).
 */
function gquicCases(w: BenchWorld, viaHarness: Sampler, shipped: Program, config: { servers: { id: string }[] }): Case[] {
  const section = 'gQUIC VIP (quic-lb:sid=2,nonce=6 + gquic), steered to a peer, ns/packet (harness subtracted)';
  const cid = gquicCid(config);
  const hashed = (form: GquicFormName): AlsoCounted => ({ what: `qs_gquic_stats ${form}/STEERED`, read: () => w.gquicPackets(form, 'STEERED'), by: 'runs' });
  const rows: [string, Buffer, AlsoCounted][] = [
    ['Q043 with version, by the Maglev table', q043Header({ cid, version: GquicVersion.Q043 }), hashed('Q043')],
    ['Q046/Q050 short header, by the Maglev table', gquicShort(cid), hashed('SHORT')],
    ['IETF short header, by its server ID', shortHeader(CID.rs2), { what: 'qs_gquic_stats', read: () => w.gquicTotal(), by: 'none' }],
  ];
  const cases = rows.map(([figure, payload, also]): Case => ({
    row: { section, figure, unit: 'ns', floorOf: MAC_FLOOR, goal: { on: 'ratio', op: '<=', limit: 2 } },
    sample: viaHarness(figure, shipped, v4(payload, PORT_GQUIC_LB), XdpAction.TX, 'STEERED', undefined, undefined, also),
  }));
  cases.at(-1)!.row.note =
    `gQUIC rows: the VIP ${VIP4}:${PORT_GQUIC_LB} applied by the CLI (cid ["quic-lb:sid=2,nonce=6", "gquic"]); the hashed rows' client CID ${cid.toString('hex')} ` +
    `is owned by ${GQUIC_OWNER} (RS2) in src/datapath/maglev.ts's table of the applied servers and reads as no server ID on the VIP's layout; ` +
    `each sample checked: qs_stats STEERED and qs_gquic_stats (form)/STEERED moved once per run (IETF row: qs_gquic_stats unmoved); ` +
    `compare with "${CLASSES[0]![0]}" (the same owner on a VIP without gQUIC) above`;
  return cases;
}

/** The goal: an encrypted single-pass steer at most this many times the plaintext steer of the same run. */
const ENC_GOAL = 1.5;
const ENC_FLOOR = 'plaintext QUIC-LB, steered (this section\'s floor)';

/**
 * Encrypted QUIC-LB rows per AES implementation: the shipped build (its decrypt-once cache serving a
 * connection's later packets) and the build without the cache (every packet decrypted: 1, 3 or 4
 * AES operations), each sample checked to have taken that path (qs_lb_decrypts moved by 0, or by
 * one per run), next to the plaintext steer of the same run.
 */
function encryptedCases(w: BenchWorld, viaHarness: Sampler, shipped: Program, plainFrame: Buffer, plainReason: ReasonName): Case[] {
  const section = 'encrypted QUIC-LB CIDs, short header steered, ns/packet (harness subtracted)';
  const frames = ENC_BENCH.map((c) =>
    frame({
      ip: { v: 4, src: CLIENT4, dst: VIP4 },
      udp: { sport: 50000, dport: PORT_ENC },
      // the CID, then a packet number and AEAD tag's worth of bytes, as a real 1-RTT packet has
      payload: shortHeader(encodeCid({ cr: c.cr, sidLen: c.sidLen, nonceLen: c.nonceLen, key: BENCH_KEY }, Buffer.from(c.sid, 'hex'), Buffer.alloc(c.nonceLen, 0x4e)), { rest: Buffer.alloc(20) }),
    }),
  );
  // per implementation: the program with the cache, and the object built without it; the kfunc one
  // where the kernel has the crypto kfuncs (its contexts made on the bench's pins first)
  const impls: [string, Program, string][] = [['table AES', shipped, OBJECTS.nocache]];
  if (kernelHasCryptoKfuncs()) impls.push([`kfunc AES (${CIPHER}: ${kernelCrypto().driver ?? '?'})`, w.kfuncBuild().program('quicsteer_xdp'), OBJECTS.kfuncNocache]);
  const cases: Case[] = [{ row: { section, figure: ENC_FLOOR, unit: 'ns' }, sample: viaHarness(ENC_FLOOR, shipped, plainFrame, XdpAction.TX, plainReason) }];
  for (const [impl, hit, uncached] of impls) {
    const miss = w.build(uncached).program('quicsteer_xdp');
    const passes = (n: number) => (n === 1 ? 'single pass (1 AES decryption)' : `4-pass Feistel, ${n} AES encryptions`);
    ENC_BENCH.forEach((c, i) => {
      const figure = `${impl}, ${passes(c.passes)}, cache hit (shipped)`;
      const goal: Partial<Measured> = c.passes === 1 ? { goal: { on: 'ratio', op: '<=', limit: ENC_GOAL } } : {};
      cases.push({ row: { section, figure, unit: 'ns', floorOf: ENC_FLOOR, ...goal }, sample: viaHarness(figure, hit, frames[i]!, XdpAction.TX, 'STEERED', undefined, 'none') });
    });
    ENC_BENCH.forEach((c, i) => {
      const figure = `${impl}, ${passes(c.passes)}, decrypted (no cache)`;
      cases.push({ row: { section, figure, unit: 'ns', floorOf: ENC_FLOOR }, sample: viaHarness(figure, miss, frames[i]!, XdpAction.TX, 'STEERED', undefined, 'each') });
    });
  }
  cases.at(-1)!.row.note =
    `encrypted rows: a VIP with three QUIC-LB configs under one key (16 octets: single pass; sid 2 + nonce 15: 3 AES passes; sid 5 + nonce 4: 4), ` +
    `applied by the CLI from a key file; "cache hit" = the shipped build, the frame's CID found in the per-CPU decrypt-once cache (qs_lb_decrypts unmoved), ` +
    `"decrypted" = the build without the cache (-DQS_LB_NO_CACHE; qs_lb_decrypts moved once per run); goal: the single-pass cache hit at most ${ENC_GOAL}x the plaintext steer; ` +
    `"kfunc AES" (where the kernel has the BPF crypto kfuncs) = quicsteer_kfunc.bpf.o on the same pins, the kernel's ecb(aes) per block, its contexts made by one more publish`;
  return cases;
}

/** The scale build with `servers` 2-byte IDs and `vips` VIPs; the steered frame's owner and VIP are placed last. */
function scaleWorld(servers: number, vips: number): { coll: Collection; probe: number } {
  const coll = ObjectSpec.open(OBJ.scale).load();
  try {
    const owner = 0x0c0d; // the fixtures' RS2
    const ids = [...Array.from({ length: servers }, (_, i) => i).filter((i) => i !== owner).slice(0, servers - 1), owner];
    const entries = ids.map((id, slot): [ServerIdT, ServerT] => [
      sidKey(Buffer.from([id >> 8, id & 0xff])),
      serverValue({ mac: id === owner ? MAC_RS2 : Buffer.from([2, 0, 0, 1, id >> 8, id & 0xff]), slot }),
    ]);
    const quicLb = vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: [{ sid_len: 2, nonce_len: 6, flags: LbFlags.ENABLED }] });
    const vipKeys = [...Array.from({ length: vips - 1 }, (_, i) => vipKey(`10.0.${i >> 8}.${i & 0xff}`, PORT_QUIC_LB)), vipKey(VIP4, PORT_QUIC_LB)];
    publishImage(
      (n) => coll.maps.get(n)!.fd,
      { localId: sidKey(Buffer.from(LOCAL_SID, 'hex')), servers: entries, vips: vipKeys.map((k) => [k, quicLb]), peers: [macKey(MAC_PEER), macKey(MAC_SELF)] },
      { servers: SCALE_SERVER_SLOTS, vips: VIP_SLOTS, peers: PEER_SLOTS },
    );
    // placement is deterministic: placing the same keys again tells how far the owner sits from its home slot
    const keys = entries.map(([k]) => SERVER_TABLE.keyCodec.encode(k));
    const at = placeKeys(keys, SCALE_SERVER_SLOTS, 'servers').at(-1)!;
    const home = homeSlot(keys.at(-1)!, SCALE_SERVER_SLOTS);
    return { coll, probe: (at - home + SCALE_SERVER_SLOTS) % SCALE_SERVER_SLOTS };
  } catch (e) {
    coll.close();
    throw e;
  }
}

/**
 * Frames per second delivered through a veth pair: live frames injected at veth0 go out by XDP_TX and
 * are counted by a sink on veth1 (which must run XDP for NAPI to deliver). Rate = delivered / time.
 * Live frames reuse their pages without restoring them, so both rows run through the harness too.
 */
function vethRate(h: Harness, w: BenchWorld, prog: Program, frame: Buffer, opts: BenchOptions): Measured[] {
  const [tx, rx] = h.ns.enter(() => [native().ifNameToIndex('veth0'), native().ifNameToIndex('veth1')]);
  const received = w.floors.perCpuMap('floor_rx', whole(u32), whole(u64));
  const delivered = () => received.lookup(0)!.reduce((a, b) => a + b, 0n);
  const sink = h.ns.enter(() => Link.attachXdp(w.floors.program('floor_sink'), { ifindex: rx!, mode: 'native' }));
  try {
    const rate = (p: Program, reason?: ReasonName) => () => {
      received.update(0, 0n);
      w.arm(p, frame);
      const before = reason ? w.reasonPackets(reason) : 0n;
      const r = h.ns.enter(() => w.restore.testRun({ data: frame, repeat: opts.liveRepeat, liveFrames: true, ingressIfindex: tx! }));
      const moved = reason ? w.reasonPackets(reason) - before : BigInt(opts.liveRepeat);
      if (moved !== BigInt(opts.liveRepeat)) throw new Error(`bench: veth: ${opts.liveRepeat} frames moved ${reason} by ${moved}`);
      // the sink's NAPI may still be draining the ring: wait until the count stops moving
      let n = delivered();
      for (let i = 0, last = -1n; i < 20 && n !== last; i++) {
        last = n;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        n = delivered();
      }
      return (Number(n) / opts.liveRepeat) * (1e3 / r.durationNs);
    };
    const section = 'veth rate, Mpps delivered (live frames through the harness, XDP_TX out of veth0, counted on veth1)';
    const floorFig = `${MAC_FLOOR} (veth)`;
    return measure(
      [
        { row: { section, figure: floorFig, unit: 'Mpps' }, sample: rate(w.floors.program('floor_tx')) },
        { row: { section, figure: 'short header, steered (veth)', unit: 'Mpps', floorOf: floorFig, goal: { on: 'ratio', op: '>=', limit: RATE_GOAL } }, sample: rate(prog, 'STEERED') },
      ],
      opts.samples,
    );
  } finally {
    sink.close();
  }
}

/** Instructions the verifier processed and program sizes, next to the MAC-rewrite floor's. */
function verifier(prog: Program, floor: Program): Measured[] {
  const [i, f] = [prog.info(), floor.info()];
  const section = `verifier and size of ${i.name}`;
  const one = (figure: string, unit: Row['unit'], value: number, floorValue: number): Measured => ({
    section, figure, unit, value, median: value, samples: [value], floor: { figure: MAC_FLOOR, value: floorValue },
  });
  return [
    one('instructions verified', 'insns', i.verifiedInsns, f.verifiedInsns),
    one('size, BPF (xlated)', 'bytes', i.xlatedProgLen, f.xlatedProgLen),
    one('size, JIT (x86-64)', 'bytes', i.jitedProgLen, f.jitedProgLen),
  ];
}

/**
 * What one change costs a writer, in-process: the pin path's lock taken and released (uncontended),
 * the RCU grace period a publish waits for, and a whole publish of 10,000 servers on as many hosts
 * (build, write the inactive generation, flip), next to an fstat as the floor of a syscall.
 */
function stateCosts(h: Harness, opts: BenchOptions): Measured[] {
  const section = 'a change: writer lock and generation flip, µs (in-process)';
  const floor = 'fstat(2) (floor)';
  const pin = mkdtempSync(path.join(os.tmpdir(), 'qs-bn-lock-'));
  const maps = generationMaps((n) => h.coll.maps.get(n)!.fd);
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  const image: Image = {
    localId: sidKey(Buffer.from('0100', 'hex')),
    vips: [[vipKey(VIP4, PORT_QUIC_LB), vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: [{ sid_len: 2, nonce_len: 6, flags: LbFlags.ENABLED }] })]],
    servers: Array.from({ length: APPLY_SERVERS }, (_, i): [ServerIdT, ServerT] => [sidKey(Buffer.from(hex(0x1000 + i, 4), 'hex')), serverValue({ mac: hostMac(i), slot: i })]),
    peers: Array.from({ length: APPLY_SERVERS }, (_, i) => macKey(hostMac(i))),
  };
  const us = (n: number, f: () => void) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    return Number(process.hrtime.bigint() - t0) / 1e3 / n;
  };
  const fd = openSync(pin, 'r');
  try {
    const rows = measure(
      [
        { row: { section, figure: floor, unit: 'µs' }, sample: () => us(1000, () => fstatSync(fd)) },
        { row: { section, figure: 'writer lock: take and release, uncontended', unit: 'µs', floorOf: floor }, sample: () => us(200, () => withWriteLock(pin, () => undefined)) },
        { row: { section, figure: 'RCU grace period (map-in-map update on qs_sync)', unit: 'µs', floorOf: floor }, sample: () => us(5, () => waitForReaders(maps)) },
        {
          row: { section, figure: `publish: ${APPLY_SERVERS.toLocaleString('en')} servers built, written, flipped`, unit: 'µs', floorOf: floor },
          sample: () => {
            // the row measures a flip only if one happened: the live generation's number moved by one
            const before = generationInfo(maps).seq;
            const t = us(1, () => publish(maps, build(image)));
            const after = generationInfo(maps);
            if (after.seq !== before + 1n || readLive(maps).servers.length !== APPLY_SERVERS) throw new Error(`bench: publish did not flip to a generation of ${APPLY_SERVERS} servers`);
            return t;
          },
        },
      ],
      opts.samples,
    );
    return rows;
  } finally {
    closeSync(fd);
    rmSync(pin, { recursive: true, force: true });
  }
}

/** The MAC of the i-th host of the control-plane rows' fleet. */
const hostMac = (i: number) => Buffer.from([2, 0, 0, 1, i >> 8, i & 0xff]);

/** Wall time of CLI commands, each next to starting node itself (in the same namespace setting). */
function controlPlane(nsName: string, opts: BenchOptions): Measured[] {
  const node = process.execPath;
  const cli = path.join(ROOT, 'scripts/quicsteer.mjs');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'qs-bn-'));
  const mounts: string[] = [];
  const bpffs = () => {
    const d = mkdtempSync(path.join(tmp, 'pin-'));
    sh('mount', '-t', 'bpf', 'bpf', d);
    mounts.push(d);
    return d;
  };
  const unmount = (d: string) => {
    sh('umount', d);
    mounts.splice(mounts.indexOf(d), 1);
  };
  const time = (args: string[], env: Record<string, string> = {}) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(args[0]!, args.slice(1), { env: { ...process.env, ...env }, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`bench: ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return ms;
  };
  const inNs = (...args: string[]) => ['ip', 'netns', 'exec', nsName, ...args];
  try {
    // 10,000 servers on as many hosts (the shipped tables hold 16,384 of each)
    const cfg = path.join(tmp, 'config.json');
    const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
    const servers = Array.from({ length: APPLY_SERVERS }, (_, i) => ({ id: hex(0x1000 + i, 4), mac: macString(hostMac(i)) }));
    writeFileSync(cfg, JSON.stringify({ localId: '0100', vips: [{ address: `${VIP4}:${PORT_QUIC_LB}`, cid: 'quic-lb:sid=2' }], servers }));
    const state = bpffs();
    time([node, cli, 'apply', '-f', cfg], { QUICSTEER_PIN_PATH: state });
    const attachPin = bpffs();

    const section = 'control plane, ms wall time (a new process each run)';
    const nodeFloor = 'node -e 0 (floor)';
    const nsFloor = 'ip netns exec … node -e 0 (floor)';
    const rows = measure(
      [
        { row: { section, figure: nodeFloor, unit: 'ms' }, sample: () => time([node, '-e', '0']) },
        {
          row: {
            section, figure: `apply -f: ${APPLY_SERVERS.toLocaleString('en')} servers into empty tables`, unit: 'ms', floorOf: nodeFloor,
            goal: { on: 'value', op: '<', limit: APPLY_GOAL_MS },
          },
          sample: () => {
            const pin = bpffs();
            try {
              return time([node, cli, 'apply', '-f', cfg], { QUICSTEER_PIN_PATH: pin });
            } finally {
              unmount(pin);
            }
          },
        },
        {
          row: { section, figure: `status, cold start (${APPLY_SERVERS.toLocaleString('en')} servers)`, unit: 'ms', floorOf: nodeFloor, goal: { on: 'value', op: '<', limit: STATUS_GOAL_MS } },
          sample: () => time([node, cli, 'status'], { QUICSTEER_PIN_PATH: state }),
        },
        { row: { section, figure: nsFloor, unit: 'ms' }, sample: () => time(inNs(node, '-e', '0')) },
        // attach then detach: detaching the last interface unpins everything, so each attach starts cold
        {
          row: { section, figure: 'attach (load, pin, attach to a veth)', unit: 'ms', floorOf: nsFloor },
          sample: () => time(inNs(node, cli, '--pin-path', attachPin, 'attach', 'veth0', '--id', LOCAL_SID)),
        },
        {
          row: { section, figure: 'detach (last interface: unpin all)', unit: 'ms', floorOf: nsFloor },
          sample: () => time(inNs(node, cli, '--pin-path', attachPin, 'detach', 'veth0')),
        },
      ],
      opts.cliRuns,
    );
    return rows;
  } finally {
    for (const d of [...mounts].reverse()) unmount(d);
    rmSync(tmp, { recursive: true, force: true });
  }
}

function sh(cmd: string, ...args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}
