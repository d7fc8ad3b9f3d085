// Frame builders: Ethernet (+VLAN tags), IPv4 (any IHL, fragments), IPv6, UDP, and QUIC headers / CIDs.
import { longTypeBits, type LongTypeName } from '../../src/quic/header.js';
import { ipBytes } from '../../src/datapath/tables.js';
import { GquicVersion } from '../../src/bpf/layout.js';
import { FIXED_BIT, Q043Flags, Q043_PN_LEN, Q046_CIL_ADJUST } from '../../src/quic/gquic.js';

export const MAC_CLIENT_GW = Buffer.from('02000000c0de', 'hex'); // the director / router sending to us
export const MAC_SELF = Buffer.from('020000000001', 'hex');      // this real server's interface

export interface FrameSpec {
  dst?: Buffer;
  src?: Buffer;
  /** TPIDs of VLAN tags, outermost first (0x88a8, 0x8100). */
  vlans?: number[];
  /** EtherType after the tags when not IP (e.g. 0x0806). */
  etherType?: number;
  ip?: { v: 4 | 6; src: string; dst: string; proto?: number; ihl?: number; fragOff?: number };
  udp?: { sport: number; dport: number; len?: number };
  payload?: Buffer;
  /** Extra bytes after the datagram (Ethernet padding). */
  trailer?: Buffer;
}

export function frame(s: FrameSpec): Buffer {
  const payload = s.payload ?? Buffer.alloc(0);
  let l4 = payload;
  if (s.udp) {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(s.udp.sport, 0);
    h.writeUInt16BE(s.udp.dport, 2);
    h.writeUInt16BE(s.udp.len ?? 8 + payload.length, 4);
    l4 = Buffer.concat([h, payload]);
  }
  let l3: Buffer;
  let etherType = s.etherType ?? 0x0800;
  if (s.ip?.v === 4) {
    const ihl = s.ip.ihl ?? 5;
    const h = Buffer.alloc(Math.max(ihl * 4, 20));
    h[0] = 0x40 | ihl;
    h.writeUInt16BE(h.length + l4.length, 2);
    h.writeUInt16BE(s.ip.fragOff ?? 0, 6);
    h[8] = 64;
    h[9] = s.ip.proto ?? 17;
    ipBytes(s.ip.src).addr.copy(h, 12, 0, 4);
    ipBytes(s.ip.dst).addr.copy(h, 16, 0, 4);
    l3 = Buffer.concat([h, l4]);
    etherType = 0x0800;
  } else if (s.ip?.v === 6) {
    const h = Buffer.alloc(40);
    h[0] = 0x60;
    h.writeUInt16BE(l4.length, 4);
    h[6] = s.ip.proto ?? 17;
    h[7] = 64;
    ipBytes(s.ip.src).addr.copy(h, 8);
    ipBytes(s.ip.dst).addr.copy(h, 24);
    l3 = Buffer.concat([h, l4]);
    etherType = 0x86dd;
  } else {
    l3 = l4;
  }
  // on the wire a tag is its TCI then the next EtherType (the outer TPID sits in the Ethernet header)
  const vlans = s.vlans ?? [];
  const tagBytes = vlans.map((_, i) => {
    const w = Buffer.alloc(4);
    w.writeUInt16BE(100 + i, 0);
    w.writeUInt16BE(vlans[i + 1] ?? etherType, 2);
    return w;
  });
  const eth = Buffer.alloc(14);
  (s.dst ?? MAC_SELF).copy(eth, 0);
  (s.src ?? MAC_CLIENT_GW).copy(eth, 6);
  eth.writeUInt16BE(vlans[0] ?? etherType, 12);
  return Buffer.concat([eth, ...tagBytes, l3, s.trailer ?? Buffer.alloc(0)]);
}

/** A QUIC long header: first octet (form + fixed bit + type bits), version, DCID, SCID, then rest. */
export function longHeader(o: { version: number; type?: LongTypeName; typeBits?: number; dcid: Buffer; scid?: Buffer; rest?: Buffer; dcidLen?: number; fixedBit?: boolean }): Buffer {
  const bits = o.typeBits ?? longTypeBits(o.version, o.type ?? 'HANDSHAKE');
  const h = Buffer.alloc(6);
  h[0] = 0x80 | (o.fixedBit === false ? 0 : 0x40) | (bits << 4) | 0x01;
  h.writeUInt32BE(o.version >>> 0, 1);
  h[5] = o.dcidLen ?? o.dcid.length;
  const scid = o.scid ?? Buffer.from('5c1d5c1d', 'hex');
  return Buffer.concat([h, o.dcid, Buffer.from([scid.length]), scid, o.rest ?? Buffer.alloc(24, 0xaa)]);
}

/** A QUIC short header (1-RTT): first octet (fixed bit unless greased), DCID, then rest. */
export function shortHeader(dcid: Buffer, o: { rest?: Buffer; fixedBit?: boolean } = {}): Buffer {
  return Buffer.concat([Buffer.from([(o.fixedBit === false ? 0 : 0x40) | 0x01]), dcid, o.rest ?? Buffer.alloc(24, 0xbb)]);
}

/**
 * A Q043 public header: flags, the 8-byte CID (CID flag set unless cidFlag false), the version when
 * given (version flag), the packet number (pnLen bytes, flags bits 4..5) unless a reset, then rest.
 * reset and nonce set their flags only (a client never sends the 32-byte nonce); extraFlags are ORed
 * into the flags byte (0x40, 0x80: other forms).
 */
export function q043Header(o: {
  cid: Buffer; version?: number; reset?: boolean; nonce?: boolean; pnLen?: (typeof Q043_PN_LEN)[number]; cidFlag?: boolean; extraFlags?: number; rest?: Buffer;
}): Buffer {
  const pnLen = o.pnLen ?? 4;
  const flags =
    (o.version === undefined ? 0 : Q043Flags.VERSION) | (o.reset ? Q043Flags.RESET : 0) | (o.nonce ? Q043Flags.NONCE : 0) |
    (o.cidFlag === false ? 0 : Q043Flags.CID) | (Q043_PN_LEN.indexOf(pnLen) << 4) | (o.extraFlags ?? 0);
  const version = Buffer.alloc(o.version === undefined ? 0 : 4);
  if (o.version !== undefined) version.writeUInt32BE(o.version >>> 0);
  const pn = o.reset ? Buffer.alloc(0) : Buffer.alloc(pnLen, 0x01);
  return Buffer.concat([Buffer.from([flags]), o.cid, version, pn, o.rest ?? Buffer.alloc(24, 0xcc)]);
}

/** The Q046 nibble of a CID length: 0 for none, else length - 3 (4..18 bytes). */
function q046Nibble(len: number): number {
  if (len !== 0 && (len < 1 + Q046_CIL_ADJUST || len > 15 + Q046_CIL_ADJUST)) throw new RangeError(`Q046 CIDs are 0 or 4..18 bytes, got ${len}`);
  return len ? len - Q046_CIL_ADJUST : 0;
}

/**
 * A gQUIC long header. Q046: flags (form, fixed bit, type in v1 order, packet-number length - 1),
 * version, DCIL << 4 | SCIL (nibbles: length - 3), DCID, SCID, packet number, rest. Q050: the
 * invariants' layout, as longHeader() writes it (length bytes before each CID). cil / dcidLen
 * override the length byte (lengths the CIDs do not have).
 */
export function gquicLong(o: {
  version: 'Q046' | 'Q050'; type?: LongTypeName; typeBits?: number; dcid: Buffer; scid?: Buffer; cil?: number; dcidLen?: number; fixedBit?: boolean; pnLen?: 1 | 2 | 3 | 4; rest?: Buffer;
}): Buffer {
  const version = GquicVersion[o.version];
  const scid = o.scid ?? Buffer.alloc(0);
  const rest = o.rest ?? Buffer.alloc(24, 0xdd);
  if (o.version === 'Q050') return longHeader({ ...o, version, scid, rest });
  const pnLen = o.pnLen ?? 4;
  const h = Buffer.alloc(6);
  h[0] = 0x80 | (o.fixedBit === false ? 0 : FIXED_BIT) | ((o.typeBits ?? longTypeBits(version, o.type ?? 'INITIAL')) << 4) | (pnLen - 1);
  h.writeUInt32BE(version, 1);
  h[5] = o.cil ?? (q046Nibble(o.dcid.length) << 4) | q046Nibble(scid.length);
  return Buffer.concat([h, o.dcid, scid, Buffer.alloc(pnLen, 0x01), rest]);
}

/**
 * A short header as Q046/Q050 write it (the fixed bit, reserved bits clear, packet-number length - 1)
 * and its greased kin: fixedBit false clears 0x40, bit08 sets the reserved bit 0x08 (a Q043 public
 * header's CID flag); first overrides the whole octet.
 */
export function gquicShort(cid: Buffer, o: { fixedBit?: boolean; bit08?: boolean; pnLen?: 1 | 2 | 3 | 4; first?: number; rest?: Buffer } = {}): Buffer {
  const first = o.first ?? ((o.fixedBit === false ? 0 : FIXED_BIT) | (o.bit08 ? Q043Flags.CID : 0) | ((o.pnLen ?? 4) - 1));
  return Buffer.concat([Buffer.from([first]), cid, o.rest ?? Buffer.alloc(24, 0xee)]);
}

/** A QUIC-LB plaintext CID: octet 0 = config rotation (3 bits) + length - 1 (self-encoded), server ID, nonce. */
export function quicLbCid(cr: number, sid: Buffer, nonceLen: number): Buffer {
  const len = 1 + sid.length + nonceLen;
  return Buffer.concat([Buffer.from([(cr << 5) | ((len - 1) & 0x1f)]), sid, Buffer.alloc(nonceLen, 0x4e)]);
}

/** An MsQuic CID (14 bytes): random octet, 4-byte server ID (e.g. an IPv4 address), partition, payload. */
export function msquicCid(sid: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x3c]), sid, Buffer.from([0x00, 0x01]), Buffer.alloc(7, 0x77)]);
}

/** An mvfst CID of the given version (1: 16-bit, 2: 24-bit, 3: 32-bit host id), written at 8 bytes and cut to `len`. */
export function mvfstCid(version: 0 | 1 | 2 | 3, host: number, len = 8): Buffer {
  const c = Buffer.alloc(Math.max(len, 8), 0x33);
  c[0] = (version << 6) | (c[0]! & 0x3f);
  if (version === 1) {
    c[0] = (1 << 6) | (host >> 10);
    c[1] = (host >> 2) & 0xff;
    c[2] = ((host & 3) << 6) | 0x15;
  } else if (version === 2) {
    c.writeUIntBE(host & 0xffffff, 1, 3);
  } else if (version === 3) {
    c.writeUInt32BE(host >>> 0, 1);
  }
  return c.subarray(0, len);
}

/** The frame with new Ethernet addresses (what a steered frame must look like). */
export function withMacs(f: Buffer, dst: Buffer, src: Buffer): Buffer {
  const out = Buffer.from(f);
  dst.copy(out, 0);
  src.copy(out, 6);
  return out;
}
