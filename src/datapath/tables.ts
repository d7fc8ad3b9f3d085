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

const noLb: QuicLbConfT = { sid_len: 0, nonce_len: 0, flags: 0, pad: 0, key_slot: 0, key: Buffer.alloc(16) };

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
 * qs_hash() of bpf/table.h: h = (HASH_B + sum of HASH_A[i] * word i) mod 2^64 over the key's 32-bit
 * little-endian words, folded to 32 bits (low half xor high half).
 */
export function qsHash(key: Buffer): number {
  if (key.length % 4 !== 0) throw new RangeError(`keys are hashed by 32-bit words, got ${key.length} bytes`);
  if (key.length / 4 > HASH_A.length) throw new RangeError(`keys are at most ${HASH_A.length} words, got ${key.length / 4}`);
  let h = HASH_B;
  for (let i = 0; i < key.length; i += 4) h += HASH_A[i / 4]! * BigInt(key.readUInt32LE(i));
  h = BigInt.asUintN(64, h);
  return Number((h ^ (h >> 32n)) & 0xffffffffn);
}

/** The slot a key's probe starts at in a table of `slots` (a power of two). */
export function homeSlot(key: Buffer, slots: number): number {
  return qsHash(key) & (slots - 1);
}

/** A table that cannot hold what it was given (over capacity, or a key too far from its home slot). */
export class TableFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TableFullError';
  }
}

/** Entries an open-addressed table of `slots` holds: a quarter, which keeps every probe run short (see placeKeys). */
export function capacityOf(slots: number): number {
  return slots / 4;
}

/**
 * Slot of each encoded key in an open-addressed table of `slots` (a power of two), by linear probing
 * with Robin Hood placement (a key probing past one nearer its home takes that slot and moves it on):
 * the longest probe run stays short (16,384 keys in 65,536 slots: 4 to 6 for counting and random
 * IDs, where placing in arrival order reaches 6 to 13; test/unit/tables.test.ts). Every key lands within PROBES of its home slot
 * with no empty slot in between, which is what the program's lookup relies on; the result depends
 * only on the keys and their order. Duplicate keys and overfull tables throw.
 */
export function placeKeys(keys: Buffer[], slots: number, what: string): number[] {
  const capacity = capacityOf(slots);
  if (keys.length > capacity) throw new TableFullError(`${what}: ${keys.length} entries, the table holds ${capacity}`);
  const seen = new Set<string>();
  for (const k of keys) {
    const hex = k.toString('hex');
    if (seen.has(hex)) throw new RangeError(`${what}: duplicate key ${hex}`);
    seen.add(hex);
  }
  const mask = slots - 1;
  const homes = keys.map((k) => homeSlot(k, slots));
  const at = new Int32Array(slots).fill(-1);
  const dist = (slot: number, key: number) => (slot - homes[key]! + slots) & mask;
  keys.forEach((_, i) => {
    let key = i;
    for (let d = 0; ; d++) {
      const slot = (homes[key]! + d) & mask;
      const there = at[slot]!;
      if (there < 0) {
        at[slot] = key;
        return;
      }
      const theirs = dist(slot, there);
      if (theirs < d) {
        at[slot] = key;
        key = there;
        d = theirs;
      }
    }
  });
  const out = new Array<number>(keys.length);
  for (let slot = 0; slot < slots; slot++) {
    const key = at[slot]!;
    if (key < 0) continue;
    if (dist(slot, key) >= PROBES) throw new TableFullError(`${what}: key ${keys[key]!.toString('hex')} collides with ${PROBES} others; no slot within the probe bound`);
    out[key] = slot;
  }
  return out;
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
