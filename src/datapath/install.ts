// Reads and publishes the program's configuration as whole generations: every table exists twice
// (two halves of one plain array), a change is written into the generation that is not live, and
// one write of qs_live's word makes it live. A process killed at any instant leaves the old
// generation or the new one live, never a mix (see bpf/maps.h).
import { native } from '../bpf/native.js';
import { u32, whole, type StructCodec } from '../bpf/codec.js';
import {
  Config, GENERATIONS, GQUIC_RING, GenState, LbFlags, LbKey, Live, MAX_KEYS, MacKey, PEER_FILTER_WORDS, PEER_SLOTS, PeerEntry, SERVER_SLOTS, ServerEntry, ServerId, ServerState,
  VIP_F_GQUIC, VIP_SLOTS, VipEntry, VipKey,
  type ConfigT, type LiveT, type MacKeyT, type ServerIdT, type ServerT, type VipKeyT, type VipT,
} from '../bpf/layout.js';
import { placeKeys, qsHash } from './tables.js';
import { expandKey } from '../quic/aes.js';
import { ringHalf } from './maglev.js';

/** One table: its map's name, slots per generation, key codec, and how entries are made and read. */
export interface TableSpec<K, V> {
  map: string;
  slots: number;
  entry: StructCodec<{ key: K; used: number } & Record<string, unknown>>;
  keyCodec: StructCodec<K>;
  toEntry(key: K, value: V): { key: K; used: number } & Record<string, unknown>;
  fromEntry(e: { key: K; used: number } & Record<string, unknown>): V;
}

export const VIP_TABLE: TableSpec<VipKeyT, VipT> = {
  map: 'qs_vips',
  slots: VIP_SLOTS,
  entry: VipEntry,
  keyCodec: VipKey,
  toEntry: (key, vip) => ({ key, used: 1, vip }),
  fromEntry: (e) => e.vip as VipT,
};

export const SERVER_TABLE: TableSpec<ServerIdT, ServerT> = {
  map: 'qs_servers',
  slots: SERVER_SLOTS,
  entry: ServerEntry,
  keyCodec: ServerId,
  toEntry: (key, server) => ({ key, used: 1, server }),
  fromEntry: (e) => e.server as ServerT,
};

export const PEER_TABLE: TableSpec<MacKeyT, true> = {
  map: 'qs_peers',
  slots: PEER_SLOTS,
  entry: PeerEntry,
  keyCodec: MacKey,
  toEntry: (key) => ({ key, used: 1 }),
  fromEntry: () => true,
};

/** Slots per generation of each table (the scale build of make bench has bigger ones). */
export interface Slots {
  vips: number;
  servers: number;
  peers: number;
}
export const SHIPPED_SLOTS: Slots = { vips: VIP_SLOTS, servers: SERVER_SLOTS, peers: PEER_SLOTS };

/** A whole configuration as the data path holds it. */
export interface Image {
  localId: ServerIdT | null;
  vips: [VipKeyT, VipT][];
  servers: [ServerIdT, ServerT][];
  peers: MacKeyT[];
}

export const EMPTY_IMAGE: Image = { localId: null, vips: [], servers: [], peers: [] };

/** An image laid out as the tables' halves: building it runs every capacity and duplicate check. */
export interface Built {
  image: Image;
  vips: Buffer;
  servers: Buffer;
  peers: Buffer;
  /** the loop guard's prefilter words (PEER_FILTER_WORDS): bit qsHash(mac) >>> 24 per peer */
  peerFilter: bigint[];
  /** qs_keys' half: the distinct QUIC-LB keys, expanded, at the slots the VIPs' configs name */
  keys: Buffer;
  /** the distinct keys themselves, by slot (for the kfunc implementation's contexts) */
  rawKeys: Buffer[];
  /** qs_gquic_ring's half: the Maglev table of the up servers, when a VIP has gQUIC (else null: nothing reads it) */
  ring: Buffer | null;
}

/** Whether any VIP of the image steers gQUIC (reads the Maglev table). */
export function hasGquic(vips: [VipKeyT, VipT][]): boolean {
  return vips.some(([, v]) => (v.cid_format & VIP_F_GQUIC) !== 0);
}

/** The IDs the Maglev table is built from: every server of the image that is up (the local one is among them). */
export function ringMembers(servers: [ServerIdT, ServerT][]): Buffer[] {
  return servers.filter(([, s]) => s.state === ServerState.UP).map(([k]) => Buffer.from(k.id.subarray(0, k.len)));
}

/**
 * The image's VIPs with every encrypted config's key_slot set (one slot per distinct key, in order
 * of first use), and those keys by slot. Throws RangeError past MAX_KEYS.
 */
export function assignKeySlots(vips: [VipKeyT, VipT][]): { vips: [VipKeyT, VipT][]; keys: Buffer[] } {
  const slots = new Map<string, number>();
  const keys: Buffer[] = [];
  const out = vips.map(([k, v]): [VipKeyT, VipT] => [
    k,
    {
      ...v,
      quic_lb: v.quic_lb.map((c) => {
        if (!(c.flags & LbFlags.ENCRYPTED)) return { ...c, key_slot: 0 };
        const hex = c.key.toString('hex');
        let slot = slots.get(hex);
        if (slot === undefined) {
          if (keys.length >= MAX_KEYS) throw new RangeError(`more than ${MAX_KEYS} distinct QUIC-LB keys: the key table holds ${MAX_KEYS}`);
          slot = keys.length;
          slots.set(hex, slot);
          keys.push(Buffer.from(c.key));
        }
        return { ...c, key_slot: slot };
      }),
    },
  ]);
  return { vips: out, keys };
}

/** qs_keys' half for keys by slot (unused slots zero). */
function keysHalf(keys: Buffer[]): Buffer {
  const half = Buffer.alloc(MAX_KEYS * LbKey.size);
  keys.forEach((k, i) => LbKey.encode(expandKey(k)).copy(half, i * LbKey.size));
  return half;
}

/** The prefilter of a peer set: the bit at each MAC key's hash's top byte. */
export function peerFilter(peers: MacKeyT[]): bigint[] {
  const words = Array.from({ length: PEER_FILTER_WORDS }, () => 0n);
  for (const p of peers) {
    const bit = qsHash(MacKey.encode(p)) >>> 24;
    words[bit >> 6] = words[bit >> 6]! | (1n << BigInt(bit & 63));
  }
  return words;
}

function layOut<K, V>(spec: TableSpec<K, V>, slots: number, entries: [K, V][]): Buffer {
  const at = placeKeys(entries.map(([k]) => spec.keyCodec.encode(k)), slots, spec.map);
  const half = Buffer.alloc(slots * spec.entry.size);
  entries.forEach(([k, v], i) => spec.entry.encode(spec.toEntry(k, v) as never).copy(half, at[i]! * spec.entry.size));
  return half;
}

/** Lays an image out (throws TableFullError or RangeError when it cannot be held). */
export function build(image: Image, slots: Slots = SHIPPED_SLOTS): Built {
  const { vips, keys } = assignKeySlots(image.vips);
  image = { ...image, vips };
  return {
    image,
    keys: keysHalf(keys),
    rawKeys: keys,
    vips: layOut(VIP_TABLE, slots.vips, image.vips),
    servers: layOut(SERVER_TABLE, slots.servers, image.servers),
    peers: layOut(PEER_TABLE, slots.peers, image.peers.map((p) => [p, true] as [MacKeyT, true])),
    peerFilter: peerFilter(image.peers),
    ring: hasGquic(image.vips) ? ringHalf(ringMembers(image.servers)) : null,
  };
}

/** File descriptors of the maps a generation lives in (from a loaded collection or the pins). */
export interface GenerationMaps {
  vips: number;
  servers: number;
  peers: number;
  config: number;
  live: number;
  sync: number;
  keys: number;
  /** qs_gquic_ring; undefined under a pin path an older build made (no gQUIC there) */
  ring?: number;
}

export const GQUIC_RING_MAP = 'qs_gquic_ring';

export const GENERATION_MAP_NAMES = { vips: 'qs_vips', servers: 'qs_servers', peers: 'qs_peers', config: 'qs_config', live: 'qs_live', sync: 'qs_sync', keys: 'qs_keys' } as const;

/**
 * A hook for the kfunc AES implementation (bpf_crypto contexts live in a map of kptrs, made by a
 * syscall program): called with the target generation and its keys by slot after the tables are
 * written and before the flip.
 */
export type KeyContexts = (gen: number, keys: Buffer[]) => void;

/** The maps by name, from anything that hands out a map's fd by name. */
export function generationMaps(fdOf: (name: string) => number | undefined): GenerationMaps {
  const m = {} as GenerationMaps;
  for (const [k, name] of Object.entries(GENERATION_MAP_NAMES)) m[k as keyof typeof GENERATION_MAP_NAMES] = fdOf(name)!;
  const ring = fdOf(GQUIC_RING_MAP);
  if (ring !== undefined) m.ring = ring;
  return m;
}

const U32 = whole(u32);
const keyBuf = (k: number) => U32.encode(k);

function readConfig(maps: GenerationMaps, gen: number): ConfigT {
  return Config.decode(native().mapLookup(maps.config, keyBuf(gen), 0)!);
}

function readLiveWord(maps: GenerationMaps): LiveT {
  return Live.decode(native().mapLookup(maps.live, keyBuf(0), 0)!);
}

function liveIndex(maps: GenerationMaps): number {
  return readLiveWord(maps).gen & (GENERATIONS - 1);
}

/** Which generation is live, its number and state, and the other one's state. */
export interface GenerationInfo {
  gen: number;
  seq: bigint;
  /** the inactive generation was left half-written by a writer that died */
  staleWriting: boolean;
}

export function generationInfo(maps: GenerationMaps): GenerationInfo {
  const gen = liveIndex(maps);
  const live = readConfig(maps, gen);
  const other = readConfig(maps, 1 - gen);
  return { gen, seq: live.seq, staleWriting: other.state === GenState.WRITING };
}

/** `n` values of an array map from index `start` (one batch call per 8192). */
function readRange(fd: number, start: number, n: number, valueSize: number): Buffer {
  const out = Buffer.alloc(n * valueSize);
  let cursor: Buffer | null = start === 0 ? null : keyBuf(start - 1);
  let got = 0;
  while (got < n) {
    const r = native().mapLookupBatch(fd, cursor, Math.min(8192, n - got));
    r.values.copy(out, got * valueSize, 0, Math.min(r.count, n - got) * valueSize);
    got += r.count;
    if (r.nextBatch === null || r.count === 0) break;
    cursor = r.nextBatch;
  }
  if (got < n) throw new RangeError(`array map has ${start + got} entries, expected at least ${start + n}`);
  return out;
}

function decodeHalf<K, V>(spec: TableSpec<K, V>, half: Buffer): [K, V][] {
  const usedAt = spec.entry.fields.find((f) => f.name === 'used')!.offset;
  const out: [K, V][] = [];
  // most slots are empty: look at `used` before decoding a whole entry
  for (let off = 0; off < half.length; off += spec.entry.size) {
    if (half.readUInt32LE(off + usedAt) === 0) continue;
    const e = spec.entry.decode(half, off);
    out.push([e.key, spec.fromEntry(e)]);
  }
  return out;
}

/**
 * The live generation's image. Readers take no lock: a writer only writes the inactive
 * generation, so the read is retried (seqlock-style) only if two flips happened during it.
 */
export function readLive(maps: GenerationMaps, slots: Slots = SHIPPED_SLOTS): Image & { gen: number; seq: bigint } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const gen = liveIndex(maps);
    const before = readConfig(maps, gen);
    const vips = decodeHalf(VIP_TABLE, readRange(maps.vips, gen * slots.vips, slots.vips, VIP_TABLE.entry.size));
    const servers = decodeHalf(SERVER_TABLE, readRange(maps.servers, gen * slots.servers, slots.servers, SERVER_TABLE.entry.size));
    const peers = decodeHalf(PEER_TABLE, readRange(maps.peers, gen * slots.peers, slots.peers, PEER_TABLE.entry.size)).map(([k]) => k);
    const after = readConfig(maps, gen);
    if (liveIndex(maps) !== gen || after.seq !== before.seq || after.state !== before.state) continue;
    const localId = after.local_id.len > 0 ? after.local_id : null;
    return { gen, seq: after.seq, localId, vips, servers, peers };
  }
  throw new Error('the tables kept changing while they were read (20 attempts)');
}

/** Waits until no program still runs with a generation from before the last flip (an RCU grace period). */
export function waitForReaders(maps: GenerationMaps): void {
  const n = native();
  const inner = n.mapCreate(n.constants.BPF_MAP_TYPE_ARRAY, 'qs_sync_i', 4, 4, 1, 0);
  try {
    // the kernel calls synchronize_rcu() after a successful map-in-map update
    n.mapUpdate(maps.sync, keyBuf(0), keyBuf(inner), n.constants.BPF_ANY);
  } finally {
    n.close(inner);
  }
}

/**
 * Writes `b` whole into the inactive generation and makes it live with one word. Returns the
 * generation's index and number. The caller holds the writer lock.
 */
export function publish(maps: GenerationMaps, b: Built, slots: Slots = SHIPPED_SLOTS, contexts?: KeyContexts): { gen: number; seq: bigint } {
  const n = native();
  if (b.ring && maps.ring === undefined) throw new RangeError(`a gQUIC VIP needs the ${GQUIC_RING_MAP} map, which this pin path lacks (made by a build before gQUIC)`);
  const live = liveIndex(maps);
  const target = 1 - live;
  // one more than either generation's number (a half-written target may carry the higher one)
  const [a, b2] = [readConfig(maps, live).seq, readConfig(maps, target).seq];
  const seq = (a > b2 ? a : b2) + 1n;
  // the target was live until the last flip: no packet may still be reading it when it is rewritten
  waitForReaders(maps);
  const localId = b.image.localId ?? { len: 0, id: Buffer.alloc(0) };
  const cfg = (state: number) => Config.encode({ local_id: localId, seq, state, pad: 0 });
  n.mapUpdate(maps.config, keyBuf(target), cfg(GenState.WRITING), n.constants.BPF_ANY);
  const writeHalf = (fd: number, perGen: number, half: Buffer) => {
    const keys = Buffer.alloc(perGen * 4);
    for (let i = 0; i < perGen; i++) keys.writeUInt32LE(target * perGen + i, i * 4);
    n.mapUpdateBatch(fd, keys, half, n.constants.BPF_ANY);
  };
  writeHalf(maps.vips, slots.vips, b.vips);
  writeHalf(maps.servers, slots.servers, b.servers);
  writeHalf(maps.peers, slots.peers, b.peers);
  writeHalf(maps.keys, MAX_KEYS, b.keys);
  if (b.ring) writeHalf(maps.ring!, GQUIC_RING, b.ring);
  contexts?.(target, b.rawKeys);
  n.mapUpdate(maps.config, keyBuf(target), cfg(GenState.COMPLETE), n.constants.BPF_ANY);
  // the target's local ID and peer prefilter go in while `gen` still names the live generation (whose
  // copies are rewritten with the bytes they have); then the flip, every other byte as it was
  const word = readLiveWord(maps);
  const next: LiveT = {
    gen: live,
    pad: 0,
    local_id: word.local_id.map((id, g) => (g === target ? localId : id)),
    peer_filter: word.peer_filter.map((w, i) => (Math.floor(i / PEER_FILTER_WORDS) === target ? b.peerFilter[i % PEER_FILTER_WORDS]! : w)),
    epoch: word.epoch.map((e, g) => (g === target ? seq : e)),
  };
  n.mapUpdate(maps.live, keyBuf(0), Live.encode(next), n.constants.BPF_ANY);
  n.mapUpdate(maps.live, keyBuf(0), Live.encode({ ...next, gen: target }), n.constants.BPF_ANY);
  return { gen: target, seq };
}

/** Builds and publishes an image in one call (tests, benchmarks; the CLI goes through PinnedState). */
export function publishImage(fdOf: (name: string) => number, image: Image, slots: Slots = SHIPPED_SLOTS, contexts?: KeyContexts): { gen: number; seq: bigint } {
  const maps = generationMaps(fdOf);
  return publish(maps, build(image, slots), slots, contexts);
}
