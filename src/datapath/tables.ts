// Builds the keys and values of the XDP program's tables from plain inputs (addresses, hex IDs, MACs).
import net from 'node:net';
import {
  CidFormat, Family, MAX_SID_LEN, QUIC_LB_CONFIGS, ServerState,
  type MacKeyT, type QuicLbConfT, type ServerIdT, type ServerT, type VipKeyT, type VipT,
} from '../bpf/layout.js';

/** An IPv4 or IPv6 address as the program keys it: family + 16 bytes (IPv4 in the first 4). */
export function ipBytes(ip: string): { family: number; addr: Buffer } {
  if (net.isIPv4(ip)) return { family: Family.IPV4, addr: Buffer.concat([Buffer.from(ip.split('.').map(Number)), Buffer.alloc(12)]) };
  if (net.isIPv6(ip)) {
    const sl = new net.SocketAddress({ address: ip, family: 'ipv6' });
    return { family: Family.IPV6, addr: ipv6ToBytes(sl.address) };
  }
  throw new RangeError(`not an IP address: ${ip}`);
}

function ipv6ToBytes(ip: string): Buffer {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const parse = (s: string) => (s ? s.split(':') : []);
  let groups = parse(head);
  if (tail !== undefined) {
    const t = parse(tail);
    groups = [...groups, ...Array(8 - groups.length - t.length).fill('0'), ...t];
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function vipKey(ip: string, port: number): VipKeyT {
  const { family, addr } = ipBytes(ip);
  return { addr, port, family, pad: 0 };
}

const noLb: QuicLbConfT = { sid_len: 0, nonce_len: 0, flags: 0, pad: 0 };

/** A VIP value; unset QUIC-LB configs are disabled. */
export function vipValue(v: { cid_format: number; dcid_len?: number; sid_offset?: number; sid_len?: number; quic_lb?: (Partial<QuicLbConfT> | undefined)[] }): VipT {
  return {
    cid_format: v.cid_format,
    dcid_len: v.dcid_len ?? 0,
    sid_offset: v.sid_offset ?? 0,
    sid_len: v.sid_len ?? 0,
    quic_lb: Array.from({ length: QUIC_LB_CONFIGS }, (_, i) => ({ ...noLb, ...(v.quic_lb?.[i] ?? {}) })),
  };
}

export const NO_CID_VIP = vipValue({ cid_format: CidFormat.NONE });

/** The server-table key of a server ID (its bytes as they appear in the CID). */
export function sidKey(sid: Buffer): ServerIdT {
  if (sid.length < 1 || sid.length > MAX_SID_LEN) throw new RangeError(`server ID must be 1..${MAX_SID_LEN} bytes, got ${sid.length}`);
  return { len: sid.length, id: sid };
}

export function macKey(mac: Buffer): MacKeyT {
  return { mac, pad: Buffer.alloc(2) };
}

export function serverValue(s: { mac: Buffer; src_mac?: Buffer; state?: number; ifindex?: number; slot: number }): ServerT {
  return { mac: s.mac, src_mac: s.src_mac ?? Buffer.alloc(6), state: s.state ?? ServerState.UP, pad: Buffer.alloc(3), ifindex: s.ifindex ?? 0, slot: s.slot };
}
