// The gQUIC owner table: a Maglev lookup table of the up servers' IDs, and the slot of a gQUIC client CID in it.
//
// A gQUIC connection ID is chosen by the client, so no server ID can be read from it: every real
// server must instead compute the same owner for it from the same server list. Maglev (Eisenbud et
// al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016, section 3.4) gives
// that with two properties a plain hash % N lacks:
// - balance: with equal weights every member owns floor(M/N) or ceil(M/N) of the M slots (each round
//   of the population loop gives every member exactly one slot, and the loop stops mid-round);
// - minimal disruption: removing a member reassigns its slots and only a few others (measured in
//   test/unit/maglev.test.ts), where hash % N moves about (N-1)/N of everything.
// Invariants the data path relies on: the table depends only on the set of member IDs (not on their
// order or repeats), so every server builds the same table from the same up-server list; every slot
// holds a member when there is at least one, and none when there are none.
import { createHash } from 'node:crypto';
import { GQUIC_CID_LEN, GQUIC_RING, ServerId } from '../bpf/layout.js';
import { qsHash, sidKey } from './tables.js';

export interface MaglevTable {
  /** The member IDs in table order: deduplicated, sorted by (length, bytes). */
  members: Buffer[];
  /** table[slot] = index into members, or -1 (only when there are no members). */
  table: Int32Array;
}

/** Domain separation for the permutation's hash, so no other SHA-256 of an ID in the project collides with it. */
const PERMUTATION_TAG = Buffer.from('quicsteer-maglev');

/** Members in their one canonical order: deduplicated, sorted by length, then bytes (each a valid server ID). */
export function maglevMembers(ids: Buffer[]): Buffer[] {
  const byHex = new Map<string, Buffer>();
  for (const id of ids) {
    sidKey(id); // refuses an ID the server table could not hold (empty, or past MAX_SID_LEN)
    byHex.set(id.toString('hex'), id);
  }
  return [...byHex.values()].sort((a, b) => a.length - b.length || Buffer.compare(a, b));
}

/** Maglev needs a prime table size: then every skip in 1..size-1 is a full permutation of the slots. */
function checkSize(size: number): void {
  let prime = Number.isSafeInteger(size) && size >= 2;
  for (let d = 2; prime && d * d <= size; d++) prime = size % d !== 0;
  if (!prime) throw new RangeError(`a Maglev table needs a prime size, got ${size}`);
}

/** A member's permutation of the slots: slot j of its preference list is (offset + j * skip) % size. */
export function maglevPermutation(id: Buffer, size = GQUIC_RING): { offset: number; skip: number } {
  const h = createHash('sha256').update(PERMUTATION_TAG).update(id).digest();
  return { offset: h.readUInt32BE(0) % size, skip: (h.readUInt32BE(4) % (size - 1)) + 1 };
}

/**
 * The Maglev table of `ids` over `size` slots (a prime): the paper's population loop, members taking
 * turns in canonical order, each claiming the next still-empty slot of its own permutation until
 * every slot is taken.
 */
export function maglevTable(ids: Buffer[], size = GQUIC_RING): MaglevTable {
  checkSize(size);
  const members = maglevMembers(ids);
  const table = new Int32Array(size).fill(-1);
  const n = members.length;
  if (n === 0) return { members, table };
  const pos = new Int32Array(n);
  const skip = new Int32Array(n);
  members.forEach((id, i) => {
    const p = maglevPermutation(id, size);
    pos[i] = p.offset;
    skip[i] = p.skip;
  });
  // pos[i] is the next entry of member i's permutation (the paper's permutation[i][next[i]]), kept
  // incrementally: adding skip mod size is the same slot as (offset + next * skip) % size
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let c = pos[i]!;
      const s = skip[i]!;
      while (table[c] !== -1) {
        c += s;
        if (c >= size) c -= size;
      }
      table[c] = i;
      c += s;
      pos[i] = c >= size ? c - size : c;
      if (++filled === size) return { members, table };
    }
  }
}

/** The ring slot of a gQUIC client CID: qs_hash over its 8 bytes as two little-endian words, mod size. */
export function gquicSlot(cid: Buffer, size = GQUIC_RING): number {
  if (cid.length !== GQUIC_CID_LEN) throw new RangeError(`a gQUIC CID is ${GQUIC_CID_LEN} bytes, got ${cid.length}`);
  return qsHash(cid) % size;
}

/** The owner (ID hex) of a gQUIC client CID in a built table, or null when the table has no members. */
export function gquicOwner(t: MaglevTable, cid: Buffer): string | null {
  const m = t.table[gquicSlot(cid, t.table.length)]!;
  return m < 0 ? null : t.members[m]!.toString('hex');
}

/**
 * One generation's half of qs_gquic_ring: `size` struct qs_server_id, slot by slot (all zero, len 0,
 * when there are no members). Each member is encoded once and copied into its slots.
 */
export function ringHalf(ids: Buffer[], size = GQUIC_RING): Buffer {
  const { members, table } = maglevTable(ids, size);
  const out = Buffer.alloc(size * ServerId.size);
  if (members.length === 0) return out;
  const encoded = members.map((id) => ServerId.encode(sidKey(id)));
  for (let slot = 0; slot < size; slot++) encoded[table[slot]!]!.copy(out, slot * ServerId.size);
  return out;
}
