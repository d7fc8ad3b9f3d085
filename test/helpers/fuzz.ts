// Seeded generator of random, truncated and mutated frames aimed at every branch of the data path.
import { QUIC_DRAFT_29, QUIC_V1, QUIC_V2 } from '../../src/quic/header.js';
import { frame, longHeader, msquicCid, mvfstCid, quicLbCid, shortHeader, MAC_CLIENT_GW } from './frames.js';
import { CID } from './fixtures.js';
import { CLIENT4, CLIENT6, MAC_PEER, PORT_MSQUIC, PORT_MVFST, PORT_NO_CID, PORT_QUIC_LB, VIP4, VIP6 } from './world.js';

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

function cidPool(r: Rng): Buffer {
  return r.pick([
    () => r.pick(Object.values(CID)),
    () => r.pick(Object.values(CID)),
    () => quicLbCid(r.int(0, 7), r.bytes(r.int(1, 4)), r.int(0, 8)),
    () => quicLbCid(0, r.pick([sid('0c0d'), sid('0a0b'), sid('0e0f'), sid('1011'), sid('2021'), sid('2223')]), r.int(0, 8)),
    () => msquicCid(r.pick([sid('c0000202'), r.bytes(4)])),
    () => mvfstCid(r.int(0, 3) as 0 | 1 | 2 | 3, r.pick([0x1234, 0x123456, 0x12345678, r.int(0, 0xffff)]), r.int(5, 12)),
    () => r.bytes(r.int(0, 22)),
  ])();
}

function quicPayload(r: Rng): Buffer {
  const kind = r.int(0, 9);
  if (kind === 0) return Buffer.alloc(0);
  if (kind === 1) return r.bytes(r.int(1, 40));
  if (kind <= 5) return shortHeader(cidPool(r), { fixedBit: r.chance(0.8), rest: r.bytes(r.int(0, 30)) });
  const dcid = cidPool(r);
  return longHeader({
    version: r.pick([QUIC_V1, QUIC_V2, QUIC_DRAFT_29, 0, r.int(0, 0xffffffff)]),
    typeBits: r.int(0, 3),
    dcid,
    dcidLen: r.chance(0.9) ? dcid.length : r.int(0, 255),
    fixedBit: r.chance(0.8),
    rest: r.bytes(r.int(0, 30)),
  });
}

export function randomFrame(r: Rng): Buffer {
  const v6 = r.chance(0.4);
  const toVip = r.chance(0.85);
  const ipv4Proto = r.chance(0.9) ? 17 : r.pick([6, 1, 47, r.int(0, 255)]);
  const ipv6Proto = r.chance(0.85) ? 17 : r.pick([0, 43, 44, 60, 50, 51, 58, 135, 6, r.int(0, 255)]);
  const payload = quicPayload(r);
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
      // the IPv6 VIP only listens on the QUIC-LB port
      dport: r.chance(0.9) ? (v6 ? PORT_QUIC_LB : r.pick([PORT_QUIC_LB, PORT_QUIC_LB, PORT_MSQUIC, PORT_MVFST, PORT_NO_CID])) : r.int(0, 65535),
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
