// Builds the keys and values of the XDP program's tables from plain inputs (addresses, hex IDs, MACs).
import net from 'node:net';
import {
  CidFormat, Family, HASH_A, HASH_B, MAX_SID_LEN, PROBES, QUIC_LB_CONFIGS, ServerState,
  type MacKeyT, type QuicLbConfT, type ServerIdT, type ServerT, type VipKeyT, type VipT,
} from '../bpf/layout.js';

/** An IPv4 or IPv6 address as the program keys it: family + 16 bytes (IPv4 in the first 4). */
export function ipBytes(ip: string): { family: number; addr: Buffer } {
  if (net.isIPv4(ip)) return { family: Family.IPV4, addr: Buffer.concat([Buffer.from(ip.split('.').map(Number)), Buffer.alloc(12)]) };
  if (net.isIPv6(ip)) return { family: Family.IPV6, addr: ipv6ToBytes(ip) };
  throw new RangeError(`not an IP address: ${ip}`);
}

function ipv6ToBytes(ip: string): Buffer {
  // the URL parser normalises IPv6 (embedded IPv4 tails included) to hex groups around one "::"
  const norm = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head, tail] = norm.split('::') as [string, string | undefined];
  const parse = (g: string) => (g ? g.split(':') : []);
  const groups = tail === undefined ? parse(head) : [...parse(head), ...Array(8 - parse(head).length - parse(tail).length).fill('0'), ...parse(tail)];
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

/**
 * qs_hash() of bpf/table.h: (HASH_B + sum of HASH_A[i] * word i) mod 2^64 over the key's 32-bit
 * little-endian words; returns its top 32 bits (a table of 2^k slots uses the top k).
 */
export function qsHash(key: Buffer): number {
  if (key.length % 4 !== 0) throw new RangeError(`keys are hashed by 32-bit words, got ${key.length} bytes`);
  if (key.length / 4 > HASH_A.length) throw new RangeError(`keys are at most ${HASH_A.length} words, got ${key.length / 4}`);
  let h = HASH_B;
  for (let i = 0; i < key.length; i += 4) h += HASH_A[i / 4]! * BigInt(key.readUInt32LE(i));
  return Number(BigInt.asUintN(64, h) >> 32n);
}

/** The slot a key's probe starts at in a table of `slots` (a power of two, at least 2): the hash's top bits. */
export function homeSlot(key: Buffer, slots: number): number {
  const bits = Math.log2(slots);
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) throw new RangeError(`table slots must be a power of two in 2..2^32, got ${slots}`);
  return Math.floor(qsHash(key) / 2 ** (32 - bits));
}

/** A table that cannot hold what it was given (over capacity, or a key too far from its home slot). */
export class TableFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TableFullError';
  }
}

/**
 * Slot of each encoded key in an open-addressed table of `slots` (a power of two), by linear probing
 * in order: every key lands within PROBES of its home slot with no empty slot in between, which is
 * what the program's lookup relies on. Duplicate keys and overfull tables throw.
 */
export function placeKeys(keys: Buffer[], slots: number, what: string): number[] {
  const capacity = slots / 4;
  if (keys.length > capacity) throw new TableFullError(`${what}: ${keys.length} entries, the table holds ${capacity}`);
  const taken = new Map<number, string>();
  const seen = new Set<string>();
  return keys.map((k) => {
    const hex = k.toString('hex');
    if (seen.has(hex)) throw new RangeError(`${what}: duplicate key ${hex}`);
    seen.add(hex);
    const home = homeSlot(k, slots);
    for (let i = 0; i < PROBES; i++) {
      const slot = (home + i) & (slots - 1);
      if (!taken.has(slot)) {
        taken.set(slot, hex);
        return slot;
      }
    }
    throw new TableFullError(`${what}: key ${hex} collides with ${PROBES} others; no slot within the probe bound`);
  });
}

/** The text form of a table address (family + 16 bytes). */
export function ipString(family: number, addr: Buffer): string {
  if (family === Family.IPV4) return [...addr.subarray(0, 4)].join('.');
  const groups = Array.from({ length: 8 }, (_, i) => addr.readUInt16BE(i * 2).toString(16));
  // compress the longest run of zero groups (RFC 5952)
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** `ip:port`, with IPv6 in brackets. */
export function endpointString(family: number, addr: Buffer, port: number): string {
  const ip = ipString(family, addr);
  return family === Family.IPV6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function macString(mac: Buffer): string {
  return mac.toString('hex').replace(/(..)(?!$)/g, '$1:');
}

export function macBytes(mac: string): Buffer {
  return Buffer.from(mac.replace(/[:-]/g, ''), 'hex');
}
