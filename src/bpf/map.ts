// Live BPF maps: owned fds with typed keys/values; per-CPU maps read one value per possible CPU.
import { FdHandle } from './fd.js';
import { native, type MapInfo } from './native.js';
import type { StructCodec } from './codec.js';

/** How an update treats an existing key (BPF_ANY / BPF_NOEXIST / BPF_EXIST). */
export type UpdateMode = 'any' | 'noexist' | 'exist';

function updateFlags(mode: UpdateMode): number {
  const c = native().constants;
  return mode === 'noexist' ? c.BPF_NOEXIST : mode === 'exist' ? c.BPF_EXIST : c.BPF_ANY;
}

function isPerCpuType(type: number): boolean {
  const c = native().constants;
  return type === c.BPF_MAP_TYPE_PERCPU_ARRAY || type === c.BPF_MAP_TYPE_PERCPU_HASH || type === c.BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/** The raw (Buffer in, Buffer out) operations every map view shares. */
abstract class MapBase<K> {
  protected readonly h: FdHandle;
  readonly info: MapInfo;
  protected readonly keyCodec: StructCodec<K>;

  protected constructor(h: FdHandle, info: MapInfo, keyCodec: StructCodec<K>) {
    if (keyCodec.size !== info.keySize)
      throw new RangeError(`map ${info.name}: key codec ${keyCodec.name} is ${keyCodec.size} bytes, the map's key is ${info.keySize}`);
    this.h = h;
    this.info = info;
    this.keyCodec = keyCodec;
  }

  get fd(): number {
    return this.h.fd;
  }

  get name(): string {
    return this.info.name;
  }

  get closed(): boolean {
    return this.h.closed;
  }

  delete(key: K): boolean {
    return native().mapDelete(this.fd, this.keyCodec.encode(key));
  }

  /** Keys in the kernel's iteration order (get-next-key). */
  *keys(): IterableIterator<K> {
    let cur: Buffer | null = null;
    for (;;) {
      const next = native().mapGetNextKey(this.fd, cur);
      if (next === null) return;
      yield this.keyCodec.decode(next);
      cur = next;
    }
  }

  deleteBatch(keys: K[]): number {
    if (keys.length === 0) return 0;
    return native().mapDeleteBatch(this.fd, Buffer.concat(keys.map((k) => this.keyCodec.encode(k))));
  }

  pin(path: string): void {
    native().objPin(this.fd, path);
  }

  close(): void {
    this.h.close();
  }
}

/** A map with one value per key. */
export class BpfMap<K = Buffer, V = Buffer> extends MapBase<K> {
  readonly #valueCodec: StructCodec<V>;

  constructor(h: FdHandle, info: MapInfo, keyCodec: StructCodec<K>, valueCodec: StructCodec<V>) {
    super(h, info, keyCodec);
    if (isPerCpuType(info.type)) throw new TypeError(`map ${info.name} is per-CPU: use PerCpuMap`);
    if (valueCodec.size !== info.valueSize)
      throw new RangeError(`map ${info.name}: value codec ${valueCodec.name} is ${valueCodec.size} bytes, the map's value is ${info.valueSize}`);
    this.#valueCodec = valueCodec;
  }

  /** Another typed view of the same fd (closing either closes both). */
  as<K2, V2>(keyCodec: StructCodec<K2>, valueCodec: StructCodec<V2>): BpfMap<K2, V2> {
    return new BpfMap(this.h, this.info, keyCodec, valueCodec);
  }

  lookup(key: K): V | undefined {
    const v = native().mapLookup(this.fd, this.keyCodec.encode(key), 0);
    return v === null ? undefined : this.#valueCodec.decode(v);
  }

  update(key: K, value: V, mode: UpdateMode = 'any'): void {
    native().mapUpdate(this.fd, this.keyCodec.encode(key), this.#valueCodec.encode(value), updateFlags(mode));
  }

  *entries(): IterableIterator<[K, V]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) yield [k, v];
    }
  }

  /** All entries through BPF_MAP_LOOKUP_BATCH, chunk entries per syscall. */
  lookupBatch(chunk = 256): [K, V][] {
    const out: [K, V][] = [];
    const ks = this.info.keySize;
    const vs = this.info.valueSize;
    let cursor: Buffer | null = null;
    for (;;) {
      const r = native().mapLookupBatch(this.fd, cursor, chunk);
      for (let i = 0; i < r.count; i++)
        out.push([this.keyCodec.decode(r.keys, i * ks), this.#valueCodec.decode(r.values, i * vs)]);
      if (r.nextBatch === null) return out;
      cursor = r.nextBatch;
    }
  }

  updateBatch(entries: [K, V][], mode: UpdateMode = 'any'): number {
    if (entries.length === 0) return 0;
    const keys = Buffer.concat(entries.map(([k]) => this.keyCodec.encode(k)));
    const values = Buffer.concat(entries.map(([, v]) => this.#valueCodec.encode(v)));
    return native().mapUpdateBatch(this.fd, keys, values, updateFlags(mode));
  }
}

/** A per-CPU map: lookups return one value per possible CPU; updates set every CPU's slot. */
export class PerCpuMap<K = Buffer, V = Buffer> extends MapBase<K> {
  readonly #valueCodec: StructCodec<V>;
  readonly #stride: number;
  readonly cpus: number;

  constructor(h: FdHandle, info: MapInfo, keyCodec: StructCodec<K>, valueCodec: StructCodec<V>) {
    super(h, info, keyCodec);
    if (!isPerCpuType(info.type)) throw new TypeError(`map ${info.name} is not per-CPU: use BpfMap`);
    if (valueCodec.size !== info.valueSize)
      throw new RangeError(`map ${info.name}: value codec ${valueCodec.name} is ${valueCodec.size} bytes, the map's value is ${info.valueSize}`);
    this.#valueCodec = valueCodec;
    // the kernel lays per-CPU values out 8-byte aligned
    this.#stride = Math.ceil(info.valueSize / 8) * 8;
    this.cpus = native().numPossibleCpus();
  }

  as<K2, V2>(keyCodec: StructCodec<K2>, valueCodec: StructCodec<V2>): PerCpuMap<K2, V2> {
    return new PerCpuMap(this.h, this.info, keyCodec, valueCodec);
  }

  lookup(key: K): V[] | undefined {
    const v = native().mapLookup(this.fd, this.keyCodec.encode(key), 0);
    if (v === null) return undefined;
    return Array.from({ length: this.cpus }, (_, i) => this.#valueCodec.decode(v, i * this.#stride));
  }

  /** Sets every CPU's value (one value for all, or exactly one per CPU). */
  update(key: K, values: V | V[], mode: UpdateMode = 'any'): void {
    native().mapUpdate(this.fd, this.keyCodec.encode(key), this.#perCpu(values), updateFlags(mode));
  }

  /** Sets every CPU's value of each key, in one BPF_MAP_UPDATE_BATCH call; returns how many were set. */
  updateBatch(entries: [K, V | V[]][], mode: UpdateMode = 'any'): number {
    if (entries.length === 0) return 0;
    const keys = Buffer.concat(entries.map(([k]) => this.keyCodec.encode(k)));
    const values = Buffer.concat(entries.map(([, v]) => this.#perCpu(v)));
    return native().mapUpdateBatch(this.fd, keys, values, updateFlags(mode));
  }

  /** One value for all CPUs, or exactly one per CPU, laid out as the kernel wants them. */
  #perCpu(values: V | V[]): Buffer {
    const list = Array.isArray(values) ? values : Array.from({ length: this.cpus }, () => values);
    if (list.length !== this.cpus) throw new RangeError(`per-CPU update needs ${this.cpus} values, got ${list.length}`);
    const buf = Buffer.alloc(this.#stride * this.cpus);
    list.forEach((v, i) => this.#valueCodec.write(buf, i * this.#stride, v));
    return buf;
  }
}

export type AnyMap = BpfMap<unknown, unknown> | PerCpuMap<unknown, unknown>;

/** Wraps an owned map fd in the right class for its type, typed by the codecs. */
export function mapFromFd<K, V>(fd: number, keyCodec: StructCodec<K>, valueCodec: StructCodec<V>): BpfMap<K, V> | PerCpuMap<K, V> {
  let info: MapInfo;
  try {
    info = native().mapInfo(fd);
  } catch (e) {
    native().close(fd);
    throw e;
  }
  const h = new FdHandle(fd, `map ${info.name}`);
  try {
    return isPerCpuType(info.type) ? new PerCpuMap(h, info, keyCodec, valueCodec) : new BpfMap(h, info, keyCodec, valueCodec);
  } catch (e) {
    h.close();
    throw e;
  }
}

/** Opens a pinned map as a plain map (throws if it is per-CPU). */
export function openPinnedMap<K, V>(path: string, keyCodec: StructCodec<K>, valueCodec: StructCodec<V>): BpfMap<K, V> {
  const m = mapFromFd(native().objGet(path), keyCodec, valueCodec);
  if (m instanceof BpfMap) return m;
  m.close();
  throw new TypeError(`map pinned at ${path} is per-CPU: use openPinnedPerCpuMap`);
}

export function openPinnedPerCpuMap<K, V>(path: string, keyCodec: StructCodec<K>, valueCodec: StructCodec<V>): PerCpuMap<K, V> {
  const m = mapFromFd(native().objGet(path), keyCodec, valueCodec);
  if (m instanceof PerCpuMap) return m;
  m.close();
  throw new TypeError(`map pinned at ${path} is not per-CPU: use openPinnedMap`);
}
