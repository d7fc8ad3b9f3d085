// The XDP program's whole decision written plainly in TS (same order as bpf/quicsteer.bpf.c):
// the oracle for fixture and differential fuzz tests.
import { Family, MAX_SID_LEN, ServerState, type ReasonName, type ServerT, type VipT } from '../bpf/layout.js';
import { XdpAction } from '../bpf/program.js';
import { parseQuic } from '../quic/header.js';
import { decodeSid } from '../quic/cid.js';

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
}

export interface Decision {
  reason: ReasonName;
  action: number;
  /** The frame as it leaves the program. */
  output: Buffer;
  /** The owner's counter slot, when steered. */
  slot?: number;
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
  const pass = (reason: ReasonName): Decision => ({ reason, action: XdpAction.PASS, output: frame });
  const pkt = parseToVip(frame, st);
  if (typeof pkt === 'string') return pass(pkt);
  const dcid = parseQuic(pkt.payload);
  if (typeof dcid === 'string') return pass(dcid);
  const r = decodeSid(pkt.payload, dcid, pkt.vip);
  if ('reason' in r) return pass(r.reason);
  if (r.sid.length > MAX_SID_LEN) throw new Error('unreachable: server ID longer than the key');

  const sid = r.sid.toString('hex');
  if (st.localId !== null && sid === st.localId) return pass('LOCAL');
  const srv = st.servers.get(sid);
  if (!srv) return pass('UNKNOWN_SERVER');
  if (srv.state === ServerState.DRAIN) return pass('PEER_DRAIN');
  if (srv.state !== ServerState.UP) return pass('PEER_DOWN');
  if (st.peers.has(frame.subarray(6, 12).toString('hex'))) return pass('LOOP_GUARD');

  const out = Buffer.from(frame);
  let action: number;
  if (srv.ifindex === 0 || srv.ifindex === st.ingressIfindex) {
    frame.copy(out, 6, 0, 6);
    action = XdpAction.TX;
  } else {
    if (!st.txPorts.has(srv.ifindex)) return pass('NO_EGRESS');
    srv.src_mac.copy(out, 6);
    action = XdpAction.REDIRECT;
  }
  srv.mac.copy(out, 0);
  return { reason: 'STEERED', action, output: out, slot: srv.slot };
}
