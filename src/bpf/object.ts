// An ELF object before load (ObjectSpec) and the live programs and maps it loads into (Collection).
import { existsSync } from 'node:fs';
import { native, type MapSpecInfo, type NativeBpfObject, type ProgramSpecInfo } from './native.js';

// Set by the kernel on every devmap (include/uapi/linux/bpf.h).
const BPF_F_RDONLY_PROG = 1 << 7;
import { ClosedError } from './fd.js';
import { Program } from './program.js';
import { BpfMap, PerCpuMap, mapFromFd } from './map.js';
import { raw, type StructCodec } from './codec.js';

export interface OpenOptions {
  /** Pin every map at <pinRootPath>/<map name>, reusing a map already pinned there (same layout). Default: no pins. */
  pinRootPath?: string;
}

/** An opened, not yet loaded, object: inspect and adjust it, then load() it once. */
export class ObjectSpec {
  #obj: NativeBpfObject | null;
  readonly path: string;

  private constructor(obj: NativeBpfObject, path: string) {
    this.#obj = obj;
    this.path = path;
  }

  static open(path: string, opts: OpenOptions = {}): ObjectSpec {
    const spec = new ObjectSpec(new (native().BpfObject)(path), path);
    if (opts.pinRootPath !== undefined) {
      try {
        for (const m of spec.maps()) if (!m.internal) spec.#pinOrReuse(m, `${opts.pinRootPath}/${m.name}`);
      } catch (e) {
        spec.close();
        throw e;
      }
    }
    return spec;
  }

  // Reuses the map pinned at path if its layout matches, else has libbpf create and pin it there.
  // (libbpf 1.1's own reuse check rejects every devmap: the kernel adds BPF_F_RDONLY_PROG to them.)
  #pinOrReuse(m: MapSpecInfo, path: string): void {
    if (!existsSync(path)) {
      this.setMapPinPath(m.name, path);
      return;
    }
    const fd = native().objGet(path);
    try {
      const live = native().mapInfo(fd);
      const flags = (f: number) => f & ~BPF_F_RDONLY_PROG;
      const diff = (['type', 'keySize', 'valueSize', 'maxEntries'] as const).filter((k) => live[k] !== m[k]);
      if (flags(live.mapFlags) !== flags(m.mapFlags)) diff.push('mapFlags' as never);
      if (diff.length) throw new Error(`map ${m.name} pinned at ${path} differs from the object's (${diff.join(', ')}): remove the pin to start over`);
      this.#o.reuseMapFd(m.name, fd);
    } finally {
      native().close(fd);
    }
  }

  get #o(): NativeBpfObject {
    if (!this.#obj) throw new ClosedError(`object ${this.path}`);
    return this.#obj;
  }

  get closed(): boolean {
    return this.#obj === null;
  }

  programs(): ProgramSpecInfo[] {
    return this.#o.programs();
  }

  maps(): MapSpecInfo[] {
    return this.#o.maps();
  }

  setMapPinPath(map: string, path: string | null): this {
    this.#o.setMapPinPath(map, path);
    return this;
  }

  /** Makes the object use an existing map (by fd) instead of creating its own. */
  reuseMap(map: string, existing: { fd: number }): this {
    this.#o.reuseMapFd(map, existing.fd);
    return this;
  }

  setMapMaxEntries(map: string, maxEntries: number): this {
    this.#o.setMapMaxEntries(map, maxEntries);
    return this;
  }

  setProgramAutoload(program: string, autoload: boolean): this {
    this.#o.setProgramAutoload(program, autoload);
    return this;
  }

  /** Loads every program and creates (or reuses) every map; the spec is consumed. */
  load(): Collection {
    const o = this.#o;
    try {
      o.load();
      const programs = new Map<string, Program>();
      const maps = new Map<string, BpfMap | PerCpuMap>();
      try {
        for (const p of o.programs()) if (p.autoload) programs.set(p.name, new Program(native().dup(o.programFd(p.name)), p.name));
        for (const m of o.maps()) maps.set(m.name, mapFromFd(native().dup(o.mapFd(m.name)), raw(m.keySize), raw(m.valueSize)));
      } catch (e) {
        for (const p of programs.values()) p.close();
        for (const m of maps.values()) m.close();
        throw e;
      }
      return new Collection(programs, maps);
    } finally {
      this.close();
    }
  }

  close(): void {
    this.#obj?.close();
    this.#obj = null;
  }
}

/** Loaded programs and maps, each owning its fd; close() closes them all. */
export class Collection {
  readonly programs: ReadonlyMap<string, Program>;
  readonly maps: ReadonlyMap<string, BpfMap | PerCpuMap>;

  constructor(programs: Map<string, Program>, maps: Map<string, BpfMap | PerCpuMap>) {
    this.programs = programs;
    this.maps = maps;
  }

  program(name: string): Program {
    const p = this.programs.get(name);
    if (!p) throw new Error(`no program ${name} in object (has: ${[...this.programs.keys()].join(', ')})`);
    return p;
  }

  /** A plain map, typed by its layout (sizes are checked against the kernel's). */
  map<K, V>(name: string, keyCodec: StructCodec<K>, valueCodec: StructCodec<V>): BpfMap<K, V> {
    const m = this.maps.get(name);
    if (!m) throw new Error(`no map ${name} in object`);
    if (!(m instanceof BpfMap)) throw new TypeError(`map ${name} is per-CPU: use perCpuMap()`);
    return m.as(keyCodec, valueCodec);
  }

  perCpuMap<K, V>(name: string, keyCodec: StructCodec<K>, valueCodec: StructCodec<V>): PerCpuMap<K, V> {
    const m = this.maps.get(name);
    if (!m) throw new Error(`no map ${name} in object`);
    if (!(m instanceof PerCpuMap)) throw new TypeError(`map ${name} is not per-CPU: use map()`);
    return m.as(keyCodec, valueCodec);
  }

  close(): void {
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
  }
}
