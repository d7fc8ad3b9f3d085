// Seeded generator of random, truncated and mutated frames aimed at every branch of the data path.
import { GquicVersion } from '../../src/bpf/layout.js';
import { QUIC_DRAFT_29, QUIC_V1, QUIC_V2 } from '../../src/quic/header.js';
import { encodeCid } from '../../src/quic/quic-lb.js';
import { MVFST_MIN_CID_LEN, encodeMsquic, encodeMvfst, msquicServerIdFixed, msquicServerIdIp, type MvfstVersion } from '../../src/quic/vendor.js';
import { frame, gquicLong, gquicShort, longHeader, msquicCid, mvfstCid, q043Header, quicLbCid, shortHeader, MAC_CLIENT_GW } from './frames.js';
import { CID } from './fixtures.js';
import { GCID } from './gquic-fixtures.js';
import {
  CLIENT4, CLIENT6, ENC_CONFIGS, ENC_SIDS, GQUIC_PORTS, LB_KEY, LB_KEYS, LOCAL_SID, MAC_PEER, PORT_GQUIC_LB, PORT_GQUIC_MSQUIC, PORT_GQUIC_MVFST,
  PORT_MSQUIC, PORT_MVFST, PORT_NO_CID, PORT_QUIC_LB, PORT_QUIC_LB_ENC, VIP4, VIP6,
} from './world.js';

/** mulberry32: small, fast, good enough to explore packets; same seed, same packets. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(0, 255)));
  }
}

const sid = (h: string) => Buffer.from(h, 'hex');
const OWNERS_2 = ['0c0d', LOCAL_SID, '0e0f', '1011', '2021', '2223'];

/** A key for an encrypted CID: mostly the config's own, else another config's or a random one. */
function keyFor(r: Rng, right: Buffer): Buffer {
  return r.chance(0.75) ? right : r.chance(0.5) ? r.pick([LB_KEY, ...LB_KEYS]) : r.bytes(16);
}

/**
 * An encrypted QUIC-LB CID for the encrypted VIP (codepoints 0..6, every Feistel shape and the
 * single pass; 7 unroutable): an owned server ID or a random one, under the right key or a wrong
 * one, sometimes cut short.
 */
function encryptedCid(r: Rng): Buffer {
  const cr = r.int(0, 7);
  const c = ENC_CONFIGS[cr % ENC_CONFIGS.length]!;
  const owned = [...ENC_SIDS, '0a0b0c', '12345678'].filter((h) => h.length === 2 * c.sid_len);
  const id = owned.length && r.chance(0.7) ? sid(r.pick(owned)) : r.bytes(c.sid_len);
  const cid = encodeCid({ cr: cr % 7, sidLen: c.sid_len, nonceLen: c.nonce_len, key: keyFor(r, c.key) }, id, r.bytes(c.nonce_len));
  if (cr === 7) cid[0] = 0xe0 | (cid[0]! & 0x1f);
  return r.chance(0.15) ? cid.subarray(0, r.int(0, cid.length - 1)) : cid;
}

/** An 8-byte mvfst CID from the vendor encoder: the owned host ID of its version (the fixtures' servers) or a random one. */
function mvfstWhole(r: Rng, v: MvfstVersion): Buffer {
  const owned = { 1: 0x1234, 2: 0x123456, 3: 0x12345678 }[v];
  return encodeMvfst(v, r.chance(0.7) ? owned : r.int(0, 2 ** (8 * (v + 1)) - 1), r.bytes(8));
}

/** An mvfst CID from the vendor encoder: an owned host ID or a random one, cut to its version's minimum or one byte below, or anywhere from there. */
function mvfstEncoded(r: Rng): Buffer {
  const v = r.int(1, 3) as MvfstVersion;
  const cid = mvfstWhole(r, v);
  const min = MVFST_MIN_CID_LEN[v];
  return cid.subarray(0, r.chance(0.6) ? r.pick([min - 1, min]) : r.int(min - 1, cid.length));
}

/** A CID and, for some, the port whose VIP it was made for. */
function cidPool(r: Rng): { cid: Buffer; port?: number } {
  return r.pick([
    () => ({ cid: r.pick(Object.values(CID)) }),
    () => ({ cid: r.pick(Object.values(CID)) }),
    () => ({ cid: quicLbCid(r.int(0, 7), r.bytes(r.int(1, 4)), r.int(0, 8)) }),
    () => ({ cid: quicLbCid(0, sid(r.pick(OWNERS_2)), r.int(0, 8)) }),
    // the fixtures' encrypted config (cr 2): the owners of every state, under its key or a wrong one
    () => ({ cid: encodeCid({ cr: 2, sidLen: 2, nonceLen: 6, key: keyFor(r, LB_KEY) }, sid(r.pick(OWNERS_2)), r.bytes(6)), port: PORT_QUIC_LB }),
    () => ({ cid: encryptedCid(r), port: PORT_QUIC_LB_ENC }),
    () => ({ cid: encryptedCid(r), port: PORT_QUIC_LB_ENC }),
    () => ({ cid: msquicCid(r.pick([sid('c0000202'), r.bytes(4)])) }),
    // MsQuic's settings: the owner's address, its FIXED uint32 (little-endian on the wire), a random ID
    () => ({ cid: encodeMsquic(r.pick([msquicServerIdIp('192.0.2.2'), msquicServerIdFixed(0x020200c0), r.bytes(4)]), { random: r.bytes(14) }), port: PORT_MSQUIC }),
    // every length around mvfst's minimums (v1 4, v2 6, v3 7 bytes)
    () => ({ cid: mvfstCid(r.int(0, 3) as 0 | 1 | 2 | 3, r.pick([0x1234, 0x123456, 0x12345678, r.int(0, 0xffff)]), r.int(1, 12)) }),
    () => ({ cid: mvfstEncoded(r), port: PORT_MVFST }),
    () => ({ cid: mvfstEncoded(r), port: PORT_MVFST }),
    () => ({ cid: r.bytes(r.int(0, 22)) }),
  ])();
}

/**
 * A gQUIC client CID (8 bytes: random, or the fixtures' hashed to each owner), or one whose bytes
 * name a server (owned or not) by a gQUIC VIP's IETF layout, with that VIP's port: QUIC-LB 8 bytes
 * or a server-chosen length, the first 8 or all 14 of an MsQuic CID, an mvfst CID.
 */
function gquicCid(r: Rng): { cid: Buffer; port?: number } {
  return r.pick([
    () => ({ cid: r.bytes(8) }),
    () => ({ cid: r.bytes(8) }),
    () => ({ cid: r.pick(Object.values(GCID)) }),
    () => ({ cid: quicLbCid(0, sid(r.pick(OWNERS_2)), r.chance(0.6) ? 5 : r.int(5, 15)), port: PORT_GQUIC_LB }),
    () => ({ cid: quicLbCid(r.pick([1, 1, 3, 7]), r.pick([sid('0a0b0c'), r.bytes(3)]), 4), port: PORT_GQUIC_LB }),
    () => ({ cid: encodeMsquic(r.pick([msquicServerIdIp('192.0.2.2'), r.bytes(4)]), { random: r.bytes(14) }).subarray(0, r.pick([8, 8, 14])), port: PORT_GQUIC_MSQUIC }),
    () => ({ cid: mvfstWhole(r, r.int(1, 3) as MvfstVersion), port: PORT_GQUIC_MVFST }),
  ])();
}

/** A length Q046's nibbles can say (0, 4..18). */
const q046Len = (r: Rng) => r.pick([0, r.int(4, 18)]);

/**
 * A gQUIC packet of every form: Q043 with every flag (a version of Q043 mostly, another, none; reset,
 * nonce, each packet-number length, the CID flag clear, 0x40/0x80 set), Q046 and Q050 of every type
 * with 8-byte and other DCIDs and SCIDs and sometimes a length byte the CIDs do not have, short
 * headers with any first octet below 0x80; some cut anywhere.
 */
function gquicPayload(r: Rng): { payload: Buffer; port?: number } {
  const { cid, port } = gquicCid(r);
  const cid8 = cid.subarray(0, 8);
  const rest = r.bytes(r.int(0, 30));
  const form = r.int(0, 3);
  let payload: Buffer;
  if (form === 0) {
    payload = q043Header({
      cid: cid8,
      version: r.chance(0.5) ? undefined : r.chance(0.8) ? GquicVersion.Q043 : r.pick([GquicVersion.Q046, GquicVersion.Q050, QUIC_V1, 0, r.int(0, 0xffffffff)]),
      reset: r.chance(0.1),
      nonce: r.chance(0.2),
      pnLen: r.pick([1, 2, 4, 6] as const),
      cidFlag: r.chance(0.95),
      extraFlags: r.chance(0.1) ? r.pick([0x40, 0x80, 0xc0]) : 0,
      rest,
    });
  } else if (form === 1) {
    const dcid = r.chance(0.7) ? cid8 : r.chance(0.5) && cid.length <= 18 ? cid : r.bytes(q046Len(r));
    const cil = r.chance(0.1) ? r.int(0, 255) : undefined;
    payload = gquicLong({ version: 'Q046', typeBits: r.int(0, 3), dcid, scid: r.bytes(q046Len(r)), cil, fixedBit: r.chance(0.9), pnLen: r.int(1, 4) as 1 | 2 | 3 | 4, rest });
  } else if (form === 2) {
    const dcid = r.chance(0.7) ? cid8 : r.chance(0.5) ? cid : r.bytes(r.int(0, 21));
    const dcidLen = r.chance(0.1) ? r.int(0, 255) : undefined;
    payload = gquicLong({ version: 'Q050', typeBits: r.int(0, 3), dcid, scid: r.bytes(r.pick([0, 8, r.int(0, 20)])), dcidLen, fixedBit: r.chance(0.9), rest });
  } else {
    payload = gquicShort(cid, { first: r.chance(0.3) ? r.int(0, 0x7f) : undefined, fixedBit: r.chance(0.8), bit08: r.chance(0.3), pnLen: r.int(1, 4) as 1 | 2 | 3 | 4, rest });
  }
  if (r.chance(0.15)) payload = payload.subarray(0, r.int(0, payload.length));
  // mostly to a gQUIC VIP (the CID's own, when it was made for one); else to any VIP (read as before)
  return { payload, port: r.chance(0.9) ? (port ?? r.pick(GQUIC_PORTS)) : undefined };
}

function quicPayload(r: Rng): { payload: Buffer; port?: number } {
  const kind = r.int(0, 12);
  if (kind >= 10) return gquicPayload(r);
  if (kind === 0) return { payload: Buffer.alloc(0) };
  if (kind === 1) return { payload: r.bytes(r.int(1, 40)) };
  if (kind <= 5) {
    const { cid, port } = cidPool(r);
    return { payload: shortHeader(cid, { fixedBit: r.chance(0.8), rest: r.bytes(r.int(0, 30)) }), port };
  }
  const { cid: dcid, port } = cidPool(r);
  const payload = longHeader({
    version: r.pick([QUIC_V1, QUIC_V2, QUIC_DRAFT_29, 0, r.int(0, 0xffffffff)]),
    typeBits: r.int(0, 3),
    dcid,
    dcidLen: r.chance(0.9) ? dcid.length : r.int(0, 255),
    fixedBit: r.chance(0.8),
    rest: r.bytes(r.int(0, 30)),
  });
  return { payload, port };
}

export function randomFrame(r: Rng): Buffer {
  const v6 = r.chance(0.4);
  const toVip = r.chance(0.85);
  const ipv4Proto = r.chance(0.9) ? 17 : r.pick([6, 1, 47, r.int(0, 255)]);
  const ipv6Proto = r.chance(0.85) ? 17 : r.pick([0, 43, 44, 60, 50, 51, 58, 135, 6, r.int(0, 255)]);
  const { payload, port } = quicPayload(r);
  let f = frame({
    src: r.pick([MAC_CLIENT_GW, MAC_CLIENT_GW, MAC_PEER, r.bytes(6)]),
    vlans: r.chance(0.25) ? Array.from({ length: r.int(1, 3) }, () => r.pick([0x8100, 0x88a8])) : [],
    etherType: r.chance(0.05) ? r.pick([0x0806, 0x88b5, r.int(0, 0xffff)]) : undefined,
    ip: r.chance(0.05)
      ? undefined
      : v6
        ? { v: 6, src: CLIENT6, dst: toVip ? VIP6 : '2001:db8::99', proto: ipv6Proto }
        : {
            v: 4,
            src: CLIENT4,
            dst: toVip ? VIP4 : '192.0.2.99',
            proto: ipv4Proto,
            ihl: r.chance(0.9) ? 5 : r.int(0, 15),
            fragOff: r.chance(0.9) ? 0 : r.pick([0x2000, 0x0001, 0x4000, r.int(0, 0xffff)]),
          },
    udp: {
      sport: r.int(1, 65535),
      // a CID made for a VIP goes there mostly; the IPv6 VIP only listens on the QUIC-LB ports (one with gQUIC)
      dport: r.chance(0.9)
        ? (port !== undefined && r.chance(0.9)
            ? port
            : v6 ? r.pick([PORT_QUIC_LB, PORT_QUIC_LB_ENC, PORT_GQUIC_LB]) : r.pick([PORT_QUIC_LB, PORT_QUIC_LB, PORT_QUIC_LB_ENC, PORT_MSQUIC, PORT_MVFST, PORT_NO_CID, ...GQUIC_PORTS]))
        : r.int(0, 65535),
      len: r.chance(0.9) ? undefined : r.int(0, 200),
    },
    payload,
    trailer: r.chance(0.1) ? r.bytes(r.int(1, 40)) : undefined,
  });
  // mutations: cut anywhere, flip a few bytes anywhere
  if (r.chance(0.2)) f = f.subarray(0, r.int(14, f.length));
  if (r.chance(0.2)) {
    f = Buffer.from(f);
    for (let i = r.int(1, 3); i > 0; i--) f[r.int(0, f.length - 1)] = r.int(0, 255);
  }
  return f.length < 14 ? Buffer.concat([f, Buffer.alloc(14 - f.length)]) : f;
}

/** The UDP destination port and payload of a frame (to the frame's end: the UDP length unread), where it has them. */
export function udpTarget(f: Buffer): { port: number; payload: Buffer } | undefined {
  let off = 12;
  let type = f.length >= 14 ? f.readUInt16BE(off) : 0;
  for (let i = 0; i < 2 && (type === 0x8100 || type === 0x88a8) && f.length >= off + 6; i++) {
    off += 4;
    type = f.readUInt16BE(off);
  }
  off += 2;
  if (type === 0x0800 && f.length >= off + 20) off += (f[off]! & 0x0f) * 4;
  else if (type === 0x86dd) off += 40;
  else return undefined;
  if (f.length < off + 8) return undefined;
  return { port: f.readUInt16BE(off + 2), payload: f.subarray(off + 8) };
}

/**
 * The UDP destination port and the DCID's first octet of a frame, where it has both, and a long
 * header's DCID length (for coverage tallies).
 */
export function dcidTarget(f: Buffer): { port: number; first: number; dcidLen?: number } | undefined {
  const u = udpTarget(f);
  if (!u) return undefined;
  const p = u.payload;
  const long = p.length > 0 && p[0]! & 0x80;
  const at = long ? 6 : 1;
  return at < p.length ? { port: u.port, first: p[at]!, ...(long ? { dcidLen: p[5]! } : {}) } : undefined;
}
