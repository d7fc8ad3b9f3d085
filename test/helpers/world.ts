// One description of the tables -> the real maps of a loaded program and the reference's state,
// plus a harness that runs frames through BPF_PROG_TEST_RUN inside a namespace the test created.
import { ObjectSpec, type Collection, type Program, type PerCpuMap } from '../../src/bpf/index.js';
import { publishImage, ringMembers, type KeyContexts } from '../../src/datapath/install.js';
import { CRYPTO_PROGRAM, keyContexts } from '../../src/datapath/crypto.js';
import {
  CidFormat, Counter, GQUIC_REASON_SLOTS, GquicForms, LbFlags, Reasons, ServerState, VIP_F_GQUIC,
  type CounterT, type GquicFormName, type ReasonName, type ServerT, type VipT,
} from '../../src/bpf/layout.js';
import { u32, whole } from '../../src/bpf/codec.js';
import { native } from '../../src/bpf/native.js';
import { decide, vipKeyString, type DatapathState, type Decision } from '../../src/datapath/reference.js';
import { ipBytes, macKey, serverValue, sidKey, vipKey, vipValue } from '../../src/datapath/tables.js';
import { maglevTable } from '../../src/datapath/maglev.js';
import { Netns } from './netns.js';
import { MAC_SELF } from './frames.js';
import { BPF_OBJ } from './paths.js';

export const VIP4 = '192.0.2.10';
export const VIP6 = '2001:db8::10';
export const CLIENT4 = '198.51.100.7';
export const CLIENT6 = '2001:db8:c::7';
export const PORT_QUIC_LB = 443;
export const PORT_MSQUIC = 4433;
export const PORT_MVFST = 8443;
export const PORT_NO_CID = 9443;
export const PORT_QUIC_LB_ENC = 4443;
/** gQUIC VIPs: beside QUIC-LB in clear (VIP4 and VIP6), alone, beside MsQuic, beside mvfst. */
export const PORT_GQUIC_LB = 5443;
export const PORT_GQUIC = 6443;
export const PORT_GQUIC_MSQUIC = 7443;
export const PORT_GQUIC_MVFST = 8843;
export const GQUIC_PORTS = [PORT_GQUIC_LB, PORT_GQUIC, PORT_GQUIC_MSQUIC, PORT_GQUIC_MVFST] as const;

export const MAC_RS2 = Buffer.from('0200000000a2', 'hex');
export const MAC_RS3 = Buffer.from('0200000000a3', 'hex');
export const MAC_RS4 = Buffer.from('0200000000a4', 'hex');
export const MAC_EGRESS = Buffer.from('0200000000e0', 'hex');
export const MAC_PEER = Buffer.from('0200000000a9', 'hex');

export const LOCAL_SID = '0a0b';

/** The key of the fixtures' encrypted QUIC-LB config (cr 2). */
export const LB_KEY = Buffer.from('41acd83ea9869117f5bca393f7392ed4', 'hex');

/** Keys of the encrypted VIP's configs (PORT_QUIC_LB_ENC). */
export const LB_KEYS = ['fc66b8396c3cbc876e6c97e4173d6914', 'd6ab474b17e4621a9b48ace9201a9edf', '1d7a49083c977426bd5bcc57ec64f04d', 'e2eda99567f18a2ffc5a2940c5e411f6'].map(
  (h) => Buffer.from(h, 'hex'),
);

/**
 * The encrypted VIP's configs by codepoint (0..6): odd and even lengths, 3 and 4 Feistel passes,
 * the single pass, the shortest and longest; three keys serve two configs each (one key slot each).
 */
export const ENC_CONFIGS = [
  { sid_len: 3, nonce_len: 4, key: LB_KEYS[0]! }, //  7 octets: 3 passes
  { sid_len: 10, nonce_len: 5, key: LB_KEYS[1]! }, // 15: 4 passes
  { sid_len: 8, nonce_len: 8, key: LB_KEYS[2]! }, //  16: single pass
  { sid_len: 9, nonce_len: 9, key: LB_KEYS[0]! }, //  18: 3 passes
  { sid_len: 4, nonce_len: 2, key: LB_KEYS[3]! }, //  6: 4 passes
  { sid_len: 15, nonce_len: 4, key: LB_KEYS[1]! }, // 19: 4 passes
  { sid_len: 1, nonce_len: 4, key: LB_KEYS[2]! }, //  5: 3 passes
];

/** Owned server IDs of the lengths the encrypted VIP's configs carry (3 and 4 octets: the fixtures' own). */
export const ENC_SIDS = ['e1', 'e2e3e4e5e6e7e8e9', 'e3e4e5e6e7e8e9eaeb', 'e4e5e6e7e8e9eaebeced', 'e5e6e7e8e9eaebecedeeeff0f1f2f3'];

export interface World {
  vips: { ip: string; port: number; vip: VipT }[];
  servers: { sid: string; server: ServerT }[];
  localId: string | null;
  peers: Buffer[];
  /** interface names (in the harness namespace) that are redirect targets */
  txPorts: string[];
}

/** The fixtures' world: every CID layout (QUIC-LB in clear and encrypted), every owner state, a redirect target and a peer. */
export function fixtureWorld(ifindex: (name: string) => number): World {
  const quicLb = vipValue({
    cid_format: CidFormat.QUIC_LB,
    quic_lb: [
      { sid_len: 2, nonce_len: 6, flags: LbFlags.ENABLED },
      { sid_len: 3, nonce_len: 4, flags: LbFlags.ENABLED },
      { sid_len: 2, nonce_len: 6, flags: LbFlags.ENABLED | LbFlags.ENCRYPTED, key: LB_KEY },
      { sid_len: 2, nonce_len: 6, flags: 0 },
      undefined,
      // encrypted, but with lengths no encrypted config may have: 4 and 20 octets
      { sid_len: 2, nonce_len: 2, flags: LbFlags.ENABLED | LbFlags.ENCRYPTED, key: LB_KEYS[0] },
      { sid_len: 15, nonce_len: 5, flags: LbFlags.ENABLED | LbFlags.ENCRYPTED, key: LB_KEYS[0] },
    ],
  });
  const encrypted = vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: ENC_CONFIGS.map((c) => ({ ...c, flags: LbFlags.ENABLED | LbFlags.ENCRYPTED })) });
  // gQUIC beside QUIC-LB in clear: configs whose server ID lies in the CID's first 8 bytes (1 + sid <= 8)
  const gquicLb = vipValue({
    cid_format: VIP_F_GQUIC | CidFormat.QUIC_LB,
    quic_lb: [{ sid_len: 2, nonce_len: 6, flags: LbFlags.ENABLED }, { sid_len: 3, nonce_len: 4, flags: LbFlags.ENABLED }, undefined, { sid_len: 2, nonce_len: 6, flags: 0 }],
  });
  return {
    vips: [
      { ip: VIP4, port: PORT_QUIC_LB, vip: quicLb },
      { ip: VIP6, port: PORT_QUIC_LB, vip: quicLb },
      { ip: VIP4, port: PORT_MSQUIC, vip: vipValue({ cid_format: CidFormat.FIXED, sid_offset: 1, sid_len: 4, dcid_len: 14 }) },
      { ip: VIP4, port: PORT_MVFST, vip: vipValue({ cid_format: CidFormat.MVFST, dcid_len: 8 }) },
      { ip: VIP4, port: PORT_NO_CID, vip: vipValue({ cid_format: CidFormat.NONE }) },
      { ip: VIP4, port: PORT_QUIC_LB_ENC, vip: encrypted },
      { ip: VIP6, port: PORT_QUIC_LB_ENC, vip: encrypted },
      { ip: VIP4, port: PORT_GQUIC_LB, vip: gquicLb },
      { ip: VIP6, port: PORT_GQUIC_LB, vip: gquicLb },
      { ip: VIP4, port: PORT_GQUIC, vip: vipValue({ cid_format: VIP_F_GQUIC | CidFormat.NONE }) },
      { ip: VIP4, port: PORT_GQUIC_MSQUIC, vip: vipValue({ cid_format: VIP_F_GQUIC | CidFormat.FIXED, sid_offset: 1, sid_len: 4, dcid_len: 14 }) },
      { ip: VIP4, port: PORT_GQUIC_MVFST, vip: vipValue({ cid_format: VIP_F_GQUIC | CidFormat.MVFST, dcid_len: 8 }) },
    ],
    servers: [
      // the local server's own entry: "local" must be decided before the server lookup
      { sid: LOCAL_SID, server: serverValue({ mac: MAC_SELF, slot: 0 }) },
      { sid: '0c0d', server: serverValue({ mac: MAC_RS2, slot: 1 }) },
      { sid: '0e0f', server: serverValue({ mac: MAC_RS3, state: ServerState.DOWN, slot: 2 }) },
      { sid: '1011', server: serverValue({ mac: MAC_RS3, state: ServerState.DRAIN, slot: 3 }) },
      { sid: '0a0b0c', server: serverValue({ mac: MAC_RS3, slot: 4 }) },
      { sid: 'c0000202', server: serverValue({ mac: MAC_RS2, slot: 5 }) },
      { sid: '1234', server: serverValue({ mac: MAC_RS3, slot: 6 }) },
      { sid: '123456', server: serverValue({ mac: MAC_RS3, slot: 7 }) },
      { sid: '12345678', server: serverValue({ mac: MAC_RS3, slot: 8 }) },
      { sid: '2021', server: serverValue({ mac: MAC_RS4, src_mac: MAC_EGRESS, ifindex: ifindex('veth0'), slot: 9 }) },
      { sid: '2223', server: serverValue({ mac: MAC_RS4, src_mac: MAC_EGRESS, ifindex: ifindex('veth1'), slot: 10 }) },
      ...ENC_SIDS.map((sid, i) => ({ sid, server: serverValue({ mac: i % 2 ? MAC_RS3 : MAC_RS2, slot: 11 + i }) })),
    ],
    localId: LOCAL_SID,
    peers: [MAC_PEER],
    txPorts: ['veth0'],
  };
}

export interface RunResult {
  action: number;
  output: Buffer;
}

/** The loaded program with its maps, in a namespace of its own (veth0/veth1 for redirect targets). */
export class Harness {
  readonly ns: Netns;
  readonly coll: Collection;
  readonly prog: Program;
  readonly stats: PerCpuMap<number, CounterT>;
  readonly serverStats: PerCpuMap<number, CounterT>;
  state!: DatapathState;

  /** the kfunc AES object's contexts hook (its syscall program), for every publish */
  readonly contexts: KeyContexts | undefined;

  /** nsPrefix names the namespace (make bench uses its own, so runs never meet the tests'); obj: the table object, or the kfunc one. */
  constructor(nsPrefix = 'qs-dp', obj = BPF_OBJ) {
    this.ns = new Netns(nsPrefix);
    try {
      this.ns.veth('veth0', 'veth1');
      this.coll = ObjectSpec.open(obj).load();
    } catch (e) {
      this.ns.destroy();
      throw e;
    }
    this.prog = this.coll.program('quicsteer_xdp');
    const setter = this.coll.programs.get(CRYPTO_PROGRAM);
    this.contexts = setter ? keyContexts(setter.fd) : undefined;
    this.stats = this.coll.perCpuMap('qs_stats', whole(u32), Counter);
    this.serverStats = this.coll.perCpuMap('qs_server_stats', whole(u32), Counter);
  }

  ifindex(name: string): number {
    return this.ns.enter(() => native().ifNameToIndex(name));
  }

  /** Writes the world into the maps and returns the reference's view of the same tables. */
  install(w: World): DatapathState {
    publishImage((n) => this.coll.maps.get(n)!.fd, {
      localId: w.localId === null ? null : sidKey(Buffer.from(w.localId, 'hex')),
      vips: w.vips.map((v) => [vipKey(v.ip, v.port), v.vip]),
      servers: w.servers.map((s) => [sidKey(Buffer.from(s.sid, 'hex')), s.server]),
      peers: w.peers.map((p) => macKey(p)),
    }, undefined, this.contexts);
    const tx = this.coll.map('qs_tx_ports', whole(u32), whole(u32));
    // devmap entries name devices of the caller's namespace
    this.ns.enter(() => w.txPorts.forEach((n) => tx.update(native().ifNameToIndex(n), native().ifNameToIndex(n))));
    this.state = referenceState(w, (n) => this.ifindex(n));
    return this.state;
  }

  /** Runs one frame through the program, arriving on lo (ifindex 1) of the harness namespace. */
  run(f: Buffer, repeat = 1): RunResult & { durationNs: number } {
    const r = this.ns.enter(() => this.prog.testRun({ data: f, ingressIfindex: 1, repeat }));
    return { action: r.retval, output: r.data, durationNs: r.durationNs };
  }

  reference(f: Buffer): Decision {
    return decide(f, this.state);
  }

  /** Packets per reason, summed over CPUs. */
  reasonPackets(): Record<ReasonName, number> {
    const out = {} as Record<ReasonName, number>;
    Reasons.forEach((name, i) => (out[name] = sumPackets(this.stats.lookup(i)!)));
    return out;
  }

  reasonPacketsOf(name: ReasonName): number {
    return sumPackets(this.stats.lookup(Reasons.indexOf(name))!);
  }

  /** qs_gquic_stats, opened on first use (objects without gQUIC have no such map). */
  #gquicStats: PerCpuMap<number, CounterT> | undefined;

  /** Packets counted in qs_gquic_stats for a form and reason (index form * GQUIC_REASON_SLOTS + reason), summed over CPUs. */
  gquicPacketsOf(form: GquicFormName, reason: ReasonName): number {
    this.#gquicStats ??= this.coll.perCpuMap('qs_gquic_stats', whole(u32), Counter);
    return sumPackets(this.#gquicStats.lookup(GquicForms.indexOf(form) * GQUIC_REASON_SLOTS + Reasons.indexOf(reason))!);
  }

  /** Every qs_gquic_stats counter, by "form reason". */
  gquicPackets(): Record<string, number> {
    return Object.fromEntries(GquicForms.flatMap((f) => Reasons.map((r) => [`${f} ${r}`, this.gquicPacketsOf(f, r)])));
  }

  serverCounter(slot: number): CounterT {
    return sum(this.serverStats.lookup(slot)!);
  }

  destroy(): void {
    this.coll.close();
    this.ns.destroy();
  }
}

/** The reference's view of a world's tables; ifindex: an interface's index where the frames run. */
export function referenceState(w: World, ifindex: (name: string) => number): DatapathState {
  return {
    vips: new Map(w.vips.map((v) => { const { family, addr } = ipBytes(v.ip); return [vipKeyString(family, addr, v.port), v.vip]; })),
    servers: new Map(w.servers.map((s) => [s.sid, s.server])),
    localId: w.localId,
    peers: new Set(w.peers.map((p) => p.toString('hex'))),
    txPorts: new Set(w.txPorts.map(ifindex)),
    ingressIfindex: 1,
    gquicRing: gquicRingOf(w),
  };
}

/** The gQUIC owner table the world's image carries: Maglev over the members publish() takes (the up servers, the local one among them). */
export function gquicRingOf(w: World): (slot: number) => string | null {
  const { members, table } = maglevTable(ringMembers(w.servers.map((s) => [sidKey(Buffer.from(s.sid, 'hex')), s.server])));
  const hex = members.map((m) => m.toString('hex'));
  return (slot) => (table[slot]! < 0 ? null : hex[table[slot]!]!);
}

export function sum(cs: CounterT[]): CounterT {
  return cs.reduce((a, c) => ({ packets: a.packets + c.packets, bytes: a.bytes + c.bytes }), { packets: 0n, bytes: 0n });
}

function sumPackets(cs: CounterT[]): number {
  return Number(sum(cs).packets);
}

