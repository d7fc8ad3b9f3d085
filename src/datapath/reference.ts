// The XDP program's whole decision written plainly in TS (same order as bpf/quicsteer.bpf.c):
// the oracle for fixture and differential fuzz tests.
import { Family, GQUIC_CID_LEN, MAX_SID_LEN, ServerState, VIP_F_GQUIC, type GquicFormName, type ReasonName, type ServerT, type VipT } from '../bpf/layout.js';
import { XdpAction } from '../bpf/program.js';
import { parseQuic } from '../quic/header.js';
import { parseGquic, type GquicHeader } from '../quic/gquic.js';
import { decodeSid } from '../quic/cid.js';
import { gquicSlot } from './maglev.js';

/** What the maps hold, as the reference sees it. */
export interface DatapathState {
  /** key: vipKeyString(family, addr, port) */
  vips: Map<string, VipT>;
  /** key: sid hex (len bytes) */
  servers: Map<string, ServerT>;
  /** This server's ID (hex), or null when none is set. */
  localId: string | null;
  /** Peer source MACs (hex). */
  peers: Set<string>;
  /** Egress ifindexes present in the tx-port devmap. */
  txPorts: Set<number>;
  /** The interface the frame came in on. */
  ingressIfindex: number;
  /** The live generation's gQUIC owner table (qs_gquic_ring): the owner's ID (hex) of a slot, null when empty. */
  gquicRing: (slot: number) => string | null;
}

export interface Decision {
  reason: ReasonName;
  action: number;
  /** The frame as it leaves the program. */
  output: Buffer;
  /** The owner's counter slot, when steered. */
  slot?: number;
  /** Set when the packet is counted in qs_gquic_stats too (at form * GQUIC_REASON_SLOTS + reason). */
  gquic?: { form: GquicFormName };
}

export function vipKeyString(family: number, addr: Buffer, port: number): string {
  return `${family}/${addr.toString('hex')}/${port}`;
}

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const VLAN_TYPES = new Set([0x8100, 0x88a8]);
const IPPROTO_UDP = 17;
const IPV6_FRAGMENT = 44;
const IPV6_EXT = new Set([0, 43, 60, 51, 50, 135, 139, 140, 253, 254]);

/** parse_to_vip(): the VIP and UDP payload of a frame, or the reason to pass. */
function parseToVip(f: Buffer, st: DatapathState): { vip: VipT; payload: Buffer } | ReasonName {
  if (f.length < 14) return 'MALFORMED';
  let proto = f.readUInt16BE(12);
  let off = 14;
  for (let i = 0; i < 2 && VLAN_TYPES.has(proto); i++) {
    if (off + 4 > f.length) return 'MALFORMED';
    proto = f.readUInt16BE(off + 2);
    off += 4;
  }
  let family: number;
  let addr: Buffer;
  if (proto === ETH_P_IP) {
    if (off + 20 > f.length) return 'MALFORMED';
    const ihl = (f[off]! & 0x0f) * 4;
    if (ihl < 20 || off + ihl > f.length) return 'MALFORMED';
    if (f[off + 9] !== IPPROTO_UDP) return 'NOT_VIP';
    if (f.readUInt16BE(off + 6) & 0x3fff) return 'FRAGMENT';
    family = Family.IPV4;
    addr = Buffer.concat([f.subarray(off + 16, off + 20), Buffer.alloc(12)]);
    off += ihl;
  } else if (proto === ETH_P_IPV6) {
    if (off + 40 > f.length) return 'MALFORMED';
    const next = f[off + 6]!;
    if (next === IPV6_FRAGMENT) return 'FRAGMENT';
    if (IPV6_EXT.has(next)) return 'IPV6_EXT';
    if (next !== IPPROTO_UDP) return 'NOT_VIP';
    family = Family.IPV6;
    addr = Buffer.from(f.subarray(off + 24, off + 40));
    off += 40;
  } else {
    return 'NOT_VIP';
  }
  if (off + 8 > f.length) return 'MALFORMED';
  const vip = st.vips.get(vipKeyString(family, addr, f.readUInt16BE(off + 2)));
  if (!vip) return 'NOT_VIP';
  const ulen = f.readUInt16BE(off + 4);
  if (ulen < 8 || off + ulen > f.length) return 'MALFORMED';
  return { vip, payload: f.subarray(off + 8, off + ulen) };
}

export function decide(frame: Buffer, st: DatapathState): Decision {
  const pkt = parseToVip(frame, st);
  if (typeof pkt === 'string') return pass(frame, pkt);
  if (pkt.vip.cid_format & VIP_F_GQUIC) {
    const g = parseGquic(pkt.payload);
    if (g && 'reason' in g) return { ...pass(frame, g.reason), gquic: { form: g.form } };
    if (g) return decideGquic(frame, pkt.payload, pkt.vip, g, st);
  }
  const dcid = parseQuic(pkt.payload);
  if (typeof dcid === 'string') return pass(frame, dcid);
  const r = decodeSid(pkt.payload, dcid, pkt.vip);
  if ('reason' in r) return pass(frame, r.reason);
  return toOwner(frame, sidHex(r.sid), st);
}

function pass(frame: Buffer, reason: ReasonName): Decision {
  return { reason, action: XdpAction.PASS, output: frame };
}

function sidHex(sid: Buffer): string {
  if (sid.length > MAX_SID_LEN) throw new Error('unreachable: server ID longer than the key');
  return sid.toString('hex');
}

/**
 * A gQUIC-form header on a gQUIC VIP: the server ID the VIP's IETF layout reads at the CID (as a short
 * header, whatever the form) when it names a known server; else a Q043 header's refusal; else the owner
 * of the 8 client-CID bytes in the Maglev table. Q046/Q050 are counted per form on both paths, Q043 and short headers when hashed.
 */
function decideGquic(frame: Buffer, payload: Buffer, vip: VipT, g: GquicHeader, st: DatapathState): Decision {
  const tag = (d: Decision, counted: boolean): Decision => (counted ? { ...d, gquic: { form: g.form } } : d);
  const long = g.form === 'Q046' || g.form === 'Q050';
  const ietf = decodeSid(payload, { off: g.off, len: null }, vip);
  if ('sid' in ietf) {
    const sid = sidHex(ietf.sid);
    if (sid === st.localId || st.servers.has(sid)) return tag(toOwner(frame, sid, st), long);
  }
  if (g.stop) return tag(pass(frame, g.stop), true);
  if (!g.hash) return tag(pass(frame, long ? 'UNROUTABLE_CID' : 'reason' in ietf ? ietf.reason : 'UNKNOWN_SERVER'), long);
  const owner = st.gquicRing(gquicSlot(payload.subarray(g.off, g.off + GQUIC_CID_LEN)));
  return tag(owner === null ? pass(frame, 'UNKNOWN_SERVER') : toOwner(frame, owner, st), true);
}

/** From a server ID on, the same for every path: local, the owner's state, the loop guard, then steered out of its interface. */
function toOwner(frame: Buffer, sid: string, st: DatapathState): Decision {
  if (st.localId !== null && sid === st.localId) return pass(frame, 'LOCAL');
  const srv = st.servers.get(sid);
  if (!srv) return pass(frame, 'UNKNOWN_SERVER');
  if (srv.state === ServerState.DRAIN) return pass(frame, 'PEER_DRAIN');
  if (srv.state !== ServerState.UP) return pass(frame, 'PEER_DOWN');
  if (st.peers.has(frame.subarray(6, 12).toString('hex'))) return pass(frame, 'LOOP_GUARD');

  const out = Buffer.from(frame);
  let action: number;
  if (srv.ifindex === 0 || srv.ifindex === st.ingressIfindex) {
    frame.copy(out, 6, 0, 6);
    action = XdpAction.TX;
  } else {
    if (!st.txPorts.has(srv.ifindex)) return pass(frame, 'NO_EGRESS');
    srv.src_mac.copy(out, 6);
    action = XdpAction.REDIRECT;
  }
  srv.mac.copy(out, 0);
  return { reason: 'STEERED', action, output: out, slot: srv.slot };
}
