// Reads and replaces the program's open-addressed tables: each change builds a new inner array and
// swaps it into the one-slot ARRAY_OF_MAPS, so the data path sees whole tables only.
import { native } from '../bpf/native.js';
import type { BpfMap } from '../bpf/map.js';
import { u32, whole, type StructCodec } from '../bpf/codec.js';
import {
  MacKey, PEER_SLOTS, PeerEntry, SERVER_SLOTS, ServerEntry, ServerId, VIP_SLOTS, VipEntry, VipKey,
  type MacKeyT, type ServerIdT, type ServerT, type VipKeyT, type VipT,
} from '../bpf/layout.js';
import { placeKeys } from './tables.js';

/** One table: its outer map's name, slot count, key codec, and how entries are made and read. */
export interface TableSpec<K, V> {
  outer: string;
  slots: number;
  entry: StructCodec<{ key: K; used: number } & Record<string, unknown>>;
  keyCodec: StructCodec<K>;
  toEntry(key: K, value: V): { key: K; used: number } & Record<string, unknown>;
  fromEntry(e: { key: K; used: number } & Record<string, unknown>): V;
}

export const VIP_TABLE: TableSpec<VipKeyT, VipT> = {
  outer: 'qs_vips',
  slots: VIP_SLOTS,
  entry: VipEntry,
  keyCodec: VipKey,
  toEntry: (key, vip) => ({ key, used: 1, vip }),
  fromEntry: (e) => e.vip as VipT,
};

export const SERVER_TABLE: TableSpec<ServerIdT, ServerT> = {
  outer: 'qs_servers',
  slots: SERVER_SLOTS,
  entry: ServerEntry,
  keyCodec: ServerId,
  toEntry: (key, server) => ({ key, used: 1, server }),
  fromEntry: (e) => e.server as ServerT,
};

export const PEER_TABLE: TableSpec<MacKeyT, true> = {
  outer: 'qs_peers',
  slots: PEER_SLOTS,
  entry: PeerEntry,
  keyCodec: MacKey,
  toEntry: (key) => ({ key, used: 1 }),
  fromEntry: () => true,
};

const U32 = whole(u32);

/** The outer map (ARRAY_OF_MAPS, one slot) typed as slot -> inner map fd (update) / id (lookup). */
export function outerView(outer: BpfMap<unknown, unknown>): BpfMap<number, number> {
  return outer.as(U32, U32);
}

/** Replaces the whole table with `entries` (an empty list empties it). */
export function writeTable<K, V>(outer: BpfMap<unknown, unknown>, spec: TableSpec<K, V>, entries: [K, V][]): void {
  const encoded = entries.map(([k, v]) => spec.entry.encode(spec.toEntry(k, v) as never));
  const slots = placeKeys(entries.map(([k]) => spec.keyCodec.encode(k)), spec.slots, spec.outer);
  const n = native();
  const fd = n.mapCreate(n.constants.BPF_MAP_TYPE_ARRAY, `${spec.outer}_t`, 4, spec.entry.size, spec.slots, 0);
  try {
    // a new array is all zeroes (used = 0): only occupied slots are written
    if (encoded.length > 0) {
      const keys = Buffer.concat(slots.map((s) => U32.encode(s)));
      n.mapUpdateBatch(fd, keys, Buffer.concat(encoded), n.constants.BPF_ANY);
    }
    outerView(outer).update(0, fd);
  } finally {
    n.close(fd);
  }
}

/** The table's entries as the data path sees them now (empty if no table was ever written). */
export function readTable<K, V>(outer: BpfMap<unknown, unknown>, spec: TableSpec<K, V>): [K, V][] {
  const id = outerView(outer).lookup(0);
  if (id === undefined || id === 0) return [];
  const n = native();
  const fd = n.getFdById('map', id);
  try {
    const out: [K, V][] = [];
    let cursor: Buffer | null = null;
    for (;;) {
      const r = n.mapLookupBatch(fd, cursor, 4096);
      // most slots are empty: look at `used` before decoding a whole entry
      const usedAt = spec.entry.fields.find((f) => f.name === 'used')!.offset;
      for (let i = 0; i < r.count; i++) {
        const off = i * spec.entry.size;
        if (r.values.readUInt32LE(off + usedAt) === 0) continue;
        const e = spec.entry.decode(r.values, off);
        out.push([e.key, spec.fromEntry(e)]);
      }
      if (r.nextBatch === null) return out;
      cursor = r.nextBatch;
    }
  } finally {
    n.close(fd);
  }
}

