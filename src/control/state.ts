// The pinned state of one real server: the program's maps and XDP links under the pin path, read as
// the live generation and changed only by publishing a whole new one (src/datapath/install.ts).
import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ObjectSpec, Link, Program, mapFromFd, openPinnedMap, openPinnedPerCpuMap, type BpfMap, type PerCpuMap } from '../bpf/index.js';
import { native } from '../bpf/native.js';
import { whole, u32, u64, type StructCodec } from '../bpf/codec.js';
import {
  Config, Counter, GQUIC_REASON_SLOTS, GquicForms, LbCacheEntry, LbKey, Live, MAX_SERVERS, PeerEntry, Reasons, ServerEntry, ServerId, ServerState, VipEntry,
  type CounterT, type ServerIdT, type ServerT, type VipKeyT, type VipT,
} from '../bpf/layout.js';
import { EMPTY_IMAGE, GQUIC_RING_MAP, SHIPPED_SLOTS, build, generationInfo, generationMaps, publish, readLive, type Built, type GenerationInfo, type GenerationMaps, type Image, type KeyContexts } from '../datapath/install.js';
import { CRYPTO_MAP, CRYPTO_SCRATCH_MAP, keyContexts } from '../datapath/crypto.js';
import { TableFullError, endpointString, ipString, macBytes, macKey, macString, serverValue, sidKey } from '../datapath/tables.js';
import { RuntimeError } from './errors.js';
import { BPF_OBJECT } from './paths.js';
import { checkPinMountSurvives, fsTypeOf } from './bpffs.js';
import { vipToSpecs, type CidSpec } from './spec.js';
import { KFUNC_PINS, openCryptoProgram, removeKfuncPins, type AesImpl } from './aes.js';

/** Every map quicsteer pins, by name (the program's maps). */
export const MAP_NAMES = [
  'qs_vips', 'qs_servers', 'qs_peers', 'qs_live', 'qs_sync', 'qs_tx_ports', 'qs_config', 'qs_stats', 'qs_server_stats', 'qs_keys', 'qs_lb_cache', 'qs_lb_decrypts',
  'qs_gquic_ring', 'qs_gquic_stats',
] as const;
export type MapName = (typeof MAP_NAMES)[number];
/**
 * Maps added after the first release: a pin path an older build made lacks them. Readers go on
 * without them; a writer pins them beside the others (an in-place upgrade keeps every table).
 */
export const ADDED_MAPS: readonly MapName[] = ['qs_gquic_ring', 'qs_gquic_stats'];
const onlyAdded = (missing: MapName[]) => missing.length > 0 && missing.every((n) => ADDED_MAPS.includes(n));
const LINK_PREFIX = 'link-';
const BPFFS_OWN = ['maps.debug', 'progs.debug'];
/** The program quicsteer attaches (by name, to tell it from other XDP programs). */
export const PROGRAM_NAME = 'quicsteer_xdp';
const U32 = whole(u32);

export type StateName = 'up' | 'down' | 'drain';
const STATE_NAMES: Record<number, StateName> = { [ServerState.UP]: 'up', [ServerState.DOWN]: 'down', [ServerState.DRAIN]: 'drain' };
export const STATE_VALUES: Record<StateName, number> = { up: ServerState.UP, down: ServerState.DOWN, drain: ServerState.DRAIN };

export interface VipView {
  address: string;
  ip: string;
  port: number;
  key: VipKeyT;
  value: VipT;
  specs: CidSpec[];
}

export interface ServerView {
  id: string;
  mac: string;
  state: StateName;
  /** egress ifindex; 0 = back out of the ingress interface */
  ifindex: number;
  dev: string | null;
  srcMac: string;
  slot: number;
}

export interface LinkView {
  ifindex: number;
  ifname: string | null;
  mode: 'native' | 'generic' | 'unknown';
  /** the AES implementation of the program on the link (kfunc: it uses the contexts map) */
  aes: AesImpl | 'unknown';
  progId: number;
  linkId: number;
  pin: string;
}

export interface Snapshot {
  localId: string | null;
  vips: VipView[];
  servers: ServerView[];
  links: LinkView[];
  generation?: GenerationInfo;
  /** pins under the pin path that quicsteer did not make (left alone) */
  foreign?: string[];
}

/** The snapshot of a pin path with no state. */
export const EMPTY_SNAPSHOT: Snapshot = { localId: null, vips: [], servers: [], links: [] };

/** A server as written: slot and egress MAC are filled in when the generation is built. */
export interface ServerInput {
  id: string;
  mac: string;
  state: StateName;
  ifindex: number;
}

/** A whole configuration as the commands state it. */
export interface Wanted {
  localId: string | null;
  vips: { key: VipKeyT; value: VipT }[];
  servers: ServerInput[];
}

function ifname(ifindex: number): string | null {
  try {
    return native().ifIndexToName(ifindex);
  } catch {
    return null;
  }
}

/** An interface's own MAC address, asked of this process' network namespace (never sysfs). */
export function devMac(dev: string): string {
  try {
    return macString(native().ifHwAddr(dev).addr);
  } catch {
    throw new RuntimeError(`cannot read the MAC of ${dev} in this network namespace`);
  }
}

/** What is pinned under a pin path, by kind. */
export interface Inventory {
  maps: MapName[];
  missing: MapName[];
  links: string[];
  /** the kfunc AES implementation's pins (optional: only once an interface ran it) */
  kfunc: string[];
  /** anything else: not quicsteer's */
  other: string[];
}

export function inventory(pin: string): Inventory {
  let names: string[] = [];
  try {
    names = readdirSync(pin);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
  }
  const maps = MAP_NAMES.filter((n) => names.includes(n));
  const ours = [...MAP_NAMES, ...KFUNC_PINS] as readonly string[];
  return {
    maps,
    missing: MAP_NAMES.filter((n) => !maps.includes(n)),
    links: names.filter((f) => f.startsWith(LINK_PREFIX)),
    kfunc: KFUNC_PINS.filter((n) => names.includes(n)),
    // maps.debug and progs.debug are the bpffs root's own (the kernel's preloaded iterators)
    other: names.filter((f) => !f.startsWith(LINK_PREFIX) && !ours.includes(f) && !BPFFS_OWN.includes(f)),
  };
}

/** A wedged pin path: some maps are missing. Read-only commands report it; writers repair it. */
export class IncompleteStateError extends RuntimeError {
  constructor(pin: string, missing: string[], why: string) {
    super(`incomplete state under ${pin} (missing ${missing.join(', ')}; ${why}): 'quicsteer reset' removes it, and the next attach or apply starts over`);
    this.name = 'IncompleteStateError';
  }
}

/** The value codec each pinned map must have (a check that it is this version's map). */
const CODECS: Record<MapName, { value: StructCodec<unknown>; perCpu?: boolean }> = {
  qs_vips: { value: VipEntry as StructCodec<unknown> },
  qs_servers: { value: ServerEntry as StructCodec<unknown> },
  qs_peers: { value: PeerEntry as StructCodec<unknown> },
  qs_live: { value: Live as StructCodec<unknown> },
  qs_sync: { value: U32 as StructCodec<unknown> },
  qs_tx_ports: { value: U32 as StructCodec<unknown> },
  qs_config: { value: Config as StructCodec<unknown> },
  qs_stats: { value: Counter as StructCodec<unknown>, perCpu: true },
  qs_server_stats: { value: Counter as StructCodec<unknown>, perCpu: true },
  qs_keys: { value: LbKey as StructCodec<unknown> },
  qs_lb_cache: { value: LbCacheEntry as StructCodec<unknown>, perCpu: true },
  qs_lb_decrypts: { value: whole(u64) as StructCodec<unknown>, perCpu: true },
  qs_gquic_ring: { value: ServerId as StructCodec<unknown> },
  qs_gquic_stats: { value: Counter as StructCodec<unknown>, perCpu: true },
};

/**
 * The maps a live quicsteer program behind the link pins holds (by name -> id): the first such
 * program's, or with `all` every one's (a kfunc program holds maps a table one does not).
 */
function mapsHeldByLinks(pin: string, links: string[], all = false): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of links) {
    try {
      const link = Link.openPinned(path.join(pin, l));
      try {
        const prog = Program.fromId(link.info().progId);
        try {
          if (prog.info().name !== PROGRAM_NAME) continue;
          for (const id of native().progMapIds(prog.fd)) {
            const fd = native().getFdById('map', id);
            try {
              out.set(native().mapInfo(fd).name, id);
            } finally {
              native().close(fd);
            }
          }
          if (!all) return out;
        } finally {
          prog.close();
        }
      } finally {
        link.close();
      }
    } catch {
      // not a link, or not ours: try the next one
    }
  }
  return out;
}

/**
 * True when the maps of an incomplete state hold no configuration: no generation was ever
 * published in qs_config, and no table slot is used. Only then may a writer remove them unasked.
 */
function partialIsEmpty(pin: string, present: MapName[]): boolean {
  const n = native();
  for (const name of present) {
    const fd = n.objGet(path.join(pin, name));
    try {
      const info = n.mapInfo(fd);
      const codec = CODECS[name].value;
      if (CODECS[name].perCpu || info.valueSize !== codec.size) continue;
      if (!['qs_config', 'qs_vips', 'qs_servers', 'qs_peers'].includes(name)) continue;
      const at = name === 'qs_config' ? Config.fields.find((f) => f.name === 'seq')!.offset : (codec as StructCodec<unknown>).fields.find((f) => f.name === 'used')!.offset;
      let cursor: Buffer | null = null;
      for (;;) {
        const r = n.mapLookupBatch(fd, cursor, 8192);
        for (let i = 0; i < r.count; i++) {
          const off = i * info.valueSize + at;
          if (name === 'qs_config' ? r.values.readBigUInt64LE(off) !== 0n : r.values.readUInt32LE(off) !== 0) return false;
        }
        if (r.nextBatch === null || r.count === 0) break;
        cursor = r.nextBatch;
      }
    } finally {
      n.close(fd);
    }
  }
  return true;
}

/**
 * A kfunc program still running while its contexts map's pin is gone (removed by hand): the maps
 * are pinned again from the program, so writers go on making the contexts it reads.
 */
function repinKfuncMaps(pin: string, inv: Inventory): void {
  const want = [CRYPTO_MAP, CRYPTO_SCRATCH_MAP].filter((n) => !inv.kfunc.includes(n));
  if (want.length === 0 || inv.links.length === 0) return;
  const held = mapsHeldByLinks(pin, inv.links, true);
  if (!held.has(CRYPTO_MAP)) return;
  for (const n of want) {
    if (!held.has(n)) continue;
    const fd = native().getFdById('map', held.get(n)!);
    try {
      native().objPin(fd, path.join(pin, n));
    } finally {
      native().close(fd);
    }
  }
}

/** Open handles on every map of the state. */
export class PinnedState {
  readonly pin: string;
  readonly vips: BpfMap<number, unknown>;
  readonly servers: BpfMap<number, unknown>;
  readonly peers: BpfMap<number, unknown>;
  readonly live: BpfMap<number, unknown>;
  readonly sync: BpfMap<number, unknown>;
  readonly txPorts: BpfMap<number, number>;
  readonly config: BpfMap<number, unknown>;
  readonly stats: PerCpuMap<number, CounterT>;
  readonly serverStats: PerCpuMap<number, CounterT>;
  readonly keys: BpfMap<number, unknown>;
  readonly lbCache: PerCpuMap<number, unknown>;
  readonly lbDecrypts: PerCpuMap<number, bigint>;
  /** the gQUIC owner table and counters: null under a pin path an older build made (see ADDED_MAPS) */
  readonly gquicRing: BpfMap<number, unknown> | null;
  readonly gquicStats: PerCpuMap<number, CounterT> | null;
  /** maps found through the program because their pins were gone */
  readonly recovered: string[];

  private constructor(pin: string, byId: Map<string, number> = new Map()) {
    this.pin = pin;
    const opened: { close(): void }[] = [];
    const recovered: string[] = [];
    const open = (name: MapName) => {
      const c = CODECS[name];
      const p = path.join(pin, name);
      let m;
      try {
        if (existsSync(p)) m = c.perCpu ? openPinnedPerCpuMap(p, U32, c.value) : openPinnedMap(p, U32, c.value);
        else {
          const id = byId.get(name);
          if (id === undefined && ADDED_MAPS.includes(name)) return null;
          if (id === undefined) throw new IncompleteStateError(pin, [name], 'no program holds it');
          m = mapFromFd(native().getFdById('map', id), U32, c.value);
          recovered.push(name);
        }
      } catch (e) {
        if (e instanceof RuntimeError) throw e;
        throw new RuntimeError(`${p} is not this version's ${name} (${(e as Error).message}): 'quicsteer reset' removes the old state`);
      }
      opened.push(m);
      return m;
    };
    try {
      this.vips = open('qs_vips') as BpfMap<number, unknown>;
      this.servers = open('qs_servers') as BpfMap<number, unknown>;
      this.peers = open('qs_peers') as BpfMap<number, unknown>;
      this.live = open('qs_live') as BpfMap<number, unknown>;
      this.sync = open('qs_sync') as BpfMap<number, unknown>;
      this.txPorts = open('qs_tx_ports') as BpfMap<number, number>;
      this.config = open('qs_config') as BpfMap<number, unknown>;
      this.stats = open('qs_stats') as PerCpuMap<number, CounterT>;
      this.serverStats = open('qs_server_stats') as PerCpuMap<number, CounterT>;
      this.keys = open('qs_keys') as BpfMap<number, unknown>;
      this.lbCache = open('qs_lb_cache') as PerCpuMap<number, unknown>;
      this.lbDecrypts = open('qs_lb_decrypts') as PerCpuMap<number, bigint>;
      this.gquicRing = open('qs_gquic_ring') as BpfMap<number, unknown> | null;
      this.gquicStats = open('qs_gquic_stats') as PerCpuMap<number, CounterT> | null;
    } catch (e) {
      opened.forEach((m) => m.close());
      throw e;
    }
    this.recovered = recovered;
  }

  private static checkFs(pin: string): void {
    if (fsTypeOf(path.resolve(pin)) !== 'bpf') throw new RuntimeError(`${pin} is not on a bpffs: no pinned state can be there (mount -t bpf bpf <dir>, or another --pin-path)`);
  }

  /**
   * For readers: the state, or null when there is none. Maps whose pins are gone are found through
   * the attached program (nothing is re-pinned); with no program holding them, IncompleteStateError.
   */
  static open(pin: string): PinnedState | null {
    // under `ip netns exec` a bpffs on the private /sys shows nothing and keeps nothing: say so
    checkPinMountSurvives(pin);
    const inv = inventory(pin);
    if (inv.maps.length === 0 && inv.links.length === 0) return null;
    PinnedState.checkFs(pin);
    if (inv.missing.length === 0) return new PinnedState(pin);
    const held = mapsHeldByLinks(pin, inv.links);
    if (inv.missing.every((n) => held.has(n) || ADDED_MAPS.includes(n))) return new PinnedState(pin, held);
    if (inv.maps.length === 0) return null;
    throw new IncompleteStateError(pin, inv.missing, held.size ? 'the attached program does not hold them' : 'no program holds them');
  }

  /**
   * For writers (under the writer lock): repairs what it can. Missing pins of maps an attached
   * program still holds are pinned again; maps no program holds, left by a writer killed while
   * creating them, are removed (they served nothing). Null when there is no state.
   */
  static openForWrite(pin: string): PinnedState | null {
    const inv = inventory(pin);
    if (inv.maps.length === 0 && inv.links.length === 0) return null;
    PinnedState.checkFs(pin);
    repinKfuncMaps(pin, inv);
    if (inv.missing.length === 0) return new PinnedState(pin);
    const held = mapsHeldByLinks(pin, inv.links);
    if (held.size > 0 && inv.missing.every((n) => held.has(n))) {
      for (const n of inv.missing) {
        const fd = native().getFdById('map', held.get(n)!);
        try {
          native().objPin(fd, path.join(pin, n));
        } finally {
          native().close(fd);
        }
      }
      return new PinnedState(pin);
    }
    if (onlyAdded(inv.missing)) {
      // a pin path an older build made: this build's new maps are pinned beside the others (the
      // object load reuses every pinned map and creates the missing ones)
      ObjectSpec.open(BPF_OBJECT, { pinRootPath: pin }).load().close();
      return new PinnedState(pin);
    }
    if (held.size === 0 && partialIsEmpty(pin, inv.maps)) {
      // no program uses these maps and they hold no configuration: a creation killed midway
      for (const n of inv.maps) unlinkSync(path.join(pin, n));
      removeKfuncPins(pin);
      return null;
    }
    throw new IncompleteStateError(pin, inv.missing, 'the attached program does not hold them');
  }

  /** For writers: the state, creating (and pinning) empty maps first when there is none. */
  static openOrCreate(pin: string): PinnedState {
    return PinnedState.openForWrite(pin) ?? PinnedState.create(pin);
  }

  /** For writers, where openForWrite found nothing: pins empty maps (loading the object) and opens them. */
  static create(pin: string): PinnedState {
    ObjectSpec.open(BPF_OBJECT, { pinRootPath: pin }).load().close();
    return new PinnedState(pin);
  }

  get maps(): GenerationMaps {
    const fds: Record<string, number> = {
      qs_vips: this.vips.fd, qs_servers: this.servers.fd, qs_peers: this.peers.fd, qs_config: this.config.fd, qs_live: this.live.fd, qs_sync: this.sync.fd,
      qs_keys: this.keys.fd,
      ...(this.gquicRing ? { qs_gquic_ring: this.gquicRing.fd } : {}),
    };
    return generationMaps((n) => fds[n]);
  }

  /** The live generation, whole. */
  image(): Image & { gen: number; seq: bigint } {
    return readLive(this.maps);
  }

  generation(): GenerationInfo {
    return generationInfo(this.maps);
  }

  readVips(): VipView[] {
    return vipViews(this.image());
  }

  readServers(): ServerView[] {
    return serverViews(this.image());
  }

  /** The live configuration in the form commands change it. */
  wanted(): Wanted {
    return wantedOf(this.image());
  }

  /** Makes `w` the live configuration (see publishPrepared); `live` is the image it replaces, when already read. */
  commit(w: Wanted, live: Image = this.image()): { seq: bigint } {
    return this.publishPrepared(prepare(w, live));
  }

  /**
   * publish()'s hook while the kfunc implementation's contexts map is pinned: every writer passes
   * it, so both generations' contexts stay right whichever program runs (undefined: none pinned).
   */
  keyContexts(): KeyContexts | undefined {
    if (!existsSync(path.join(this.pin, CRYPTO_MAP))) return undefined;
    return (gen, keys) => {
      const prog = openCryptoProgram(this.pin);
      try {
        keyContexts(prog.fd)(gen, keys);
      } finally {
        prog.close();
      }
    };
  }

  /**
   * Publishes a generation built by prepare() against the live image: clears the counters of new
   * server IDs, adds egress ports, publishes it with one flip, then drops egress ports nothing names
   * any more. Counters of servers that stay are untouched.
   */
  publishPrepared(p: Prepared): { seq: bigint } {
    if (p.built.ring) checkGquicPrograms(this.pin);
    const zero = { packets: 0n, bytes: 0n };
    // new IDs start from zero; their slots are free in the live generation
    this.serverStats.updateBatch(p.fresh.map((slot) => [slot, zero]));
    for (const i of p.ports) this.txPorts.update(i, i);
    const r = publish(this.maps, p.built, SHIPPED_SLOTS, this.keyContexts());
    for (const i of [...this.txPorts.keys()]) if (!p.ports.has(i)) this.txPorts.delete(i);
    return { seq: r.seq };
  }

  snapshot(img: Image = this.image()): Snapshot {
    const links = readLinks(this.pin);
    return { localId: localIdOf(img), vips: vipViews(img), servers: serverViews(img), links: links.links, generation: this.generation(), foreign: links.foreign };
  }

  /** Per-reason packets/bytes and per-server steered packets/bytes, summed over CPUs; `img`: the live image, when already read. */
  counters(img: Image = this.image()): { reasons: Record<string, CounterT>; servers: Record<string, CounterT>; decrypted: bigint; gquic: Record<string, CounterT> } {
    const sum = (cs: CounterT[]) => cs.reduce((a, c) => ({ packets: a.packets + c.packets, bytes: a.bytes + c.bytes }), { packets: 0n, bytes: 0n });
    const reasons = Object.fromEntries(Reasons.map((r, i) => [r.toLowerCase(), sum(this.stats.lookup(i)!)]));
    const servers = Object.fromEntries(serverViews(img).map((s) => [s.id, sum(this.serverStats.lookup(s.slot)!)]));
    // encrypted QUIC-LB CIDs that took AES (the rest came from the decrypt-once cache)
    const decrypted = this.lbDecrypts.lookup(0)!.reduce((a, n) => a + n, 0n);
    // gQUIC packets per form and reason, as '<form> <reason>' (none under an older build's pin path)
    const g = this.gquicStats;
    const gquic = g ? Object.fromEntries(GquicForms.flatMap((f, fi) => Reasons.map((r, ri) => [`${f.toLowerCase()} ${r.toLowerCase()}`, sum(g.lookup(fi * GQUIC_REASON_SLOTS + ri)!)]))) : {};
    return { reasons, servers, decrypted, gquic };
  }

  close(): void {
    for (const m of [this.vips, this.servers, this.peers, this.live, this.sync, this.txPorts, this.config, this.stats, this.serverStats, this.keys, this.lbCache, this.lbDecrypts, this.gquicRing, this.gquicStats]) m?.close();
  }
}

const hexOf = (k: ServerIdT) => k.id.subarray(0, k.len).toString('hex');

function localIdOf(img: Image): string | null {
  return img.localId ? hexOf(img.localId) : null;
}

export function vipViews(img: Image): VipView[] {
  return img.vips
    .map(([key, value]) => ({ address: endpointString(key.family, key.addr, key.port), ip: ipString(key.family, key.addr), port: key.port, key, value, specs: vipToSpecs(value) }))
    .sort((a, b) => a.key.family - b.key.family || Buffer.compare(a.key.addr, b.key.addr) || a.port - b.port);
}

function serverViews(img: Image): ServerView[] {
  return img.servers
    .map(([key, s]) => ({
      id: hexOf(key),
      mac: macString(s.mac),
      state: STATE_NAMES[s.state] ?? 'down',
      ifindex: s.ifindex,
      dev: s.ifindex ? ifname(s.ifindex) : null,
      srcMac: macString(s.src_mac),
      slot: s.slot,
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

export function wantedOf(img: Image): Wanted {
  return {
    localId: localIdOf(img),
    vips: vipViews(img).map((v) => ({ key: v.key, value: v.value })),
    servers: serverViews(img).map((s) => ({ id: s.id, mac: s.mac, state: s.state, ifindex: s.ifindex })),
  };
}

/** A generation ready to publish: the laid-out tables, the counter slots to clear, the egress ports. */
export interface Prepared {
  built: Built;
  fresh: number[];
  ports: Set<number>;
}

/**
 * Builds the generation for `w` against the live image `live` (whose counter slots it keeps):
 * every check the write makes happens here, so a dry run that calls it refuses what a write would.
 */
export function prepare(w: Wanted, live: Image = EMPTY_IMAGE): Prepared {
  const before = new Map(live.servers.map(([key, s]) => [hexOf(key), s]));
  const used = new Set(w.servers.flatMap((s) => (before.has(s.id) ? [before.get(s.id)!.slot] : [])));
  let next = 0;
  const fresh: number[] = [];
  const slotOf = (id: string): number => {
    const old = before.get(id);
    if (old) return old.slot;
    while (used.has(next)) next++;
    if (next >= MAX_SERVERS) throw new RuntimeError(`${w.servers.length} servers: the server table holds ${MAX_SERVERS}`);
    used.add(next);
    fresh.push(next);
    return next;
  };
  const ports = new Set(w.servers.filter((s) => s.ifindex !== 0).map((s) => s.ifindex));
  const srcMacs = new Map(
    [...ports].map((i) => {
      const name = ifname(i);
      if (name === null) throw new RuntimeError(`egress interface ${i} is gone`);
      return [i, macBytes(devMac(name))];
    }),
  );
  const servers = w.servers.map(
    (s) => [sidKey(Buffer.from(s.id, 'hex')), serverValue({ mac: macBytes(s.mac), src_mac: srcMacs.get(s.ifindex), state: STATE_VALUES[s.state], ifindex: s.ifindex, slot: slotOf(s.id) })] as [ServerIdT, ServerT],
  );
  const image: Image = {
    localId: w.localId === null ? null : sidKey(Buffer.from(w.localId, 'hex')),
    vips: w.vips.map((v) => [v.key, v.value]),
    servers,
    peers: [...new Set(w.servers.map((s) => s.mac))].map((m) => macKey(macBytes(m))),
  };
  try {
    return { built: build(image), fresh, ports };
  } catch (e) {
    if (e instanceof TableFullError || e instanceof RangeError) throw new RuntimeError(e.message);
    throw e;
  }
}

export function linkPinPath(pin: string, ifindex: number): string {
  return path.join(pin, `${LINK_PREFIX}${ifindex}`);
}

/** The names of the maps a program uses (null: the program is gone). */
function progMapNames(progId: number): string[] | null {
  try {
    const prog = Program.fromId(progId);
    try {
      return native().progMapIds(prog.fd).map((id) => {
        const fd = native().getFdById('map', id);
        try {
          return native().mapInfo(fd).name;
        } finally {
          native().close(fd);
        }
      });
    } finally {
      prog.close();
    }
  } catch {
    return null; // gone meanwhile
  }
}

/** A program's AES implementation: the kfunc one is the program that uses the contexts map. */
export function aesOf(progId: number): AesImpl | 'unknown' {
  const names = progMapNames(progId);
  return names === null ? 'unknown' : names.includes(CRYPTO_MAP) ? 'kfunc' : 'table';
}

/**
 * Refuses a generation with a gQUIC VIP while an attached program predates gQUIC (it lacks the
 * owner table): such a program reads the VIP's flagged layout as none, and would stop steering
 * the VIP's IETF packets too. The fix is the in-place upgrade: attach again from this build.
 */
function checkGquicPrograms(pin: string): void {
  const old = readLinks(pin).links.filter((l) => {
    const names = progMapNames(l.progId);
    return names !== null && !names.includes(GQUIC_RING_MAP);
  });
  if (old.length)
    throw new RuntimeError(
      `a gquic VIP needs gQUIC in the XDP program, and the one on ${old.map((l) => `${l.ifname ?? `ifindex ${l.ifindex}`} (prog ${l.progId})`).join(', ')} predates it: run 'quicsteer attach ${old[0]!.ifname ?? '<if>'} --id <id>' from this build first (it swaps the program in place)`,
    );
}

/** What a pinned link is attached to, and how; null when the pin is not an XDP link quicsteer pinned. */
export function readLink(pinPath: string): LinkView | null {
  let l: Link;
  try {
    l = Link.openPinned(pinPath);
  } catch {
    return null;
  }
  try {
    let info;
    try {
      info = l.info();
    } catch {
      return null; // pinned object that is not a link
    }
    if (info.ifindex === undefined) return null;
    // quicsteer pins an XDP link as link-<ifindex>; whatever program runs on it now (an update may
    // have swapped it), the link is ours. A defunct link reports ifindex 0.
    const pinned = Number(path.basename(pinPath).slice(LINK_PREFIX.length));
    if (!Number.isInteger(pinned) || pinned <= 0 || (info.ifindex !== 0 && info.ifindex !== pinned)) return null;
    const ifindex = info.ifindex;
    let mode: LinkView['mode'] = 'unknown';
    if (ifindex) {
      try {
        const q = native().xdpQuery(ifindex);
        mode = q.drvProgId === info.progId ? 'native' : q.skbProgId === info.progId ? 'generic' : 'unknown';
      } catch {
        // interface gone: the link is defunct
      }
    }
    return { ifindex: ifindex || pinned, ifname: ifindex ? ifname(ifindex) : null, mode, aes: aesOf(info.progId), progId: info.progId, linkId: info.id, pin: pinPath };
  } finally {
    l.close();
  }
}

/** quicsteer's links under the pin path, and the link-* pins that are not (foreign: never touched). */
export function readLinks(pin: string): { links: LinkView[]; foreign: string[] } {
  const links: LinkView[] = [];
  const foreign: string[] = [];
  for (const f of inventory(pin).links) {
    const v = readLink(path.join(pin, f));
    if (v) links.push(v);
    else foreign.push(f);
  }
  return { links: links.sort((a, b) => a.ifindex - b.ifindex), foreign };
}

/** Removes every map quicsteer pinned under `pin`, and the kfunc implementation's program (links are detached by the caller); returns what went. */
export function removeMaps(pin: string): string[] {
  const gone: string[] = [];
  for (const n of inventory(pin).maps) {
    unlinkSync(path.join(pin, n));
    gone.push(n);
  }
  return [...gone, ...removeKfuncPins(pin)];
}
