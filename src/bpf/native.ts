// The native addon's whole surface, declared once; the only module that loads build/Release/quicsteer.node.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Map as libbpf sees it in an opened (not yet loaded) object. */
export interface MapSpecInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  pinPath: string | null;
  pinned: boolean;
  internal: boolean;
}

/** Program as libbpf sees it in an opened object. */
export interface ProgramSpecInfo {
  name: string;
  section: string;
  type: number;
  expectedAttachType: number;
  autoload: boolean;
}

/** bpf_map_info of a live map. */
export interface MapInfo {
  id: number;
  type: number;
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  btfId: number;
}

/** bpf_prog_info of a live program. */
export interface ProgInfo {
  id: number;
  type: number;
  name: string;
  tag: string;
  loadTime: number;
  btfId: number;
  runCount: number;
  runTimeNs: number;
  /** Instructions the verifier processed (its complexity measure; 0 before Linux 5.16). */
  verifiedInsns: number;
  /** Program size in bytes after the kernel's rewrites (BPF), and as JIT-compiled machine code. */
  xlatedProgLen: number;
  jitedProgLen: number;
}

/** bpf_link_info of a live link (ifindex for XDP links). */
export interface LinkInfo {
  id: number;
  type: number;
  progId: number;
  ifindex?: number;
}

/** bpf_xdp_query() of an interface. */
export interface XdpQueryResult {
  progId: number;
  drvProgId: number;
  skbProgId: number;
  hwProgId: number;
  attachMode: number;
}

export interface NativeBatch {
  count: number;
  keys: Buffer;
  values: Buffer;
  nextBatch: Buffer | null;
}

export interface NativeTestRunOptions {
  dataIn?: Buffer;
  dataSizeOut?: number;
  ctxIn?: Buffer;
  ctxSizeOut?: number;
  repeat?: number;
  flags?: number;
  cpu?: number;
  batchSize?: number;
}

export interface NativeTestRunResult {
  retval: number;
  duration: number;
  dataOut: Buffer;
  ctxOut: Buffer;
}

export interface NativeBpfObject {
  programs(): ProgramSpecInfo[];
  maps(): MapSpecInfo[];
  setMapPinPath(map: string, path: string | null): void;
  reuseMapFd(map: string, fd: number): void;
  setMapMaxEntries(map: string, maxEntries: number): void;
  mapInitialValue(map: string): Buffer | null;
  setMapInitialValue(map: string, value: Buffer): void;
  setProgramAutoload(program: string, autoload: boolean): void;
  load(): void;
  programFd(program: string): number;
  mapFd(map: string): number;
  close(): void;
  readonly closed: boolean;
  readonly loaded: boolean;
}

export interface NativeConstants {
  BPF_XDP: number;
  BPF_PROG_TYPE_XDP: number;
  BPF_LINK_TYPE_XDP: number;
  XDP_FLAGS_UPDATE_IF_NOEXIST: number;
  XDP_FLAGS_SKB_MODE: number;
  XDP_FLAGS_DRV_MODE: number;
  XDP_FLAGS_HW_MODE: number;
  XDP_ATTACHED_NONE: number;
  XDP_ATTACHED_DRV: number;
  XDP_ATTACHED_SKB: number;
  XDP_ATTACHED_HW: number;
  XDP_ATTACHED_MULTI: number;
  BPF_ANY: number;
  BPF_NOEXIST: number;
  BPF_EXIST: number;
  BPF_F_LOCK: number;
  BPF_F_TEST_RUN_ON_CPU: number;
  BPF_F_TEST_XDP_LIVE_FRAMES: number;
  BPF_MAP_TYPE_HASH: number;
  BPF_MAP_TYPE_ARRAY: number;
  BPF_MAP_TYPE_PERCPU_HASH: number;
  BPF_MAP_TYPE_PERCPU_ARRAY: number;
  BPF_MAP_TYPE_DEVMAP: number;
  BPF_MAP_TYPE_DEVMAP_HASH: number;
  BPF_MAP_TYPE_LRU_HASH: number;
  BPF_MAP_TYPE_LRU_PERCPU_HASH: number;
  BPF_MAP_TYPE_ARRAY_OF_MAPS: number;
}

export interface NativeAddon {
  BpfObject: new (path: string, options?: { pinRootPath?: string; objectName?: string }) => NativeBpfObject;
  close(fd: number): void;
  dup(fd: number): number;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  getFdById(kind: 'prog' | 'map' | 'link', id: number): number;
  mapInfo(fd: number): MapInfo;
  progInfo(fd: number): ProgInfo;
  /** ids of the maps the program uses */
  progMapIds(fd: number): number[];
  linkInfo(fd: number): LinkInfo;
  mapLookup(fd: number, key: Buffer, flags: number): Buffer | null;
  mapLookupAndDelete(fd: number, key: Buffer): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapGetNextKey(fd: number, key: Buffer | null): Buffer | null;
  mapLookupBatch(fd: number, cursor: Buffer | null, count: number): NativeBatch;
  mapLookupAndDeleteBatch(fd: number, cursor: Buffer | null, count: number): NativeBatch;
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, flags: number): number;
  mapDeleteBatch(fd: number, keys: Buffer): number;
  mapCreate(type: number, name: string, keySize: number, valueSize: number, maxEntries: number, flags: number): number;
  linkCreate(progFd: number, target: number, attachType: number, flags: number): number;
  linkUpdate(linkFd: number, progFd: number, options?: { oldProgFd?: number; flags?: number }): void;
  linkDetach(fd: number): void;
  progTestRun(fd: number, options: NativeTestRunOptions): NativeTestRunResult;
  xdpQuery(ifindex: number): XdpQueryResult;
  numPossibleCpus(): number;
  ifNameToIndex(name: string): number;
  ifIndexToName(ifindex: number): string;
  /** hardware address type (ARPHRD_*) and the first 6 bytes of the address, from this network namespace */
  ifHwAddr(name: string): { type: number; addr: Buffer };
  /** flock(2) with LOCK_NB: true when taken, false when held elsewhere */
  flock(fd: number, op: 'ex' | 'sh' | 'un'): boolean;
  netnsOpen(path: string): number;
  netnsSet(fd: number): void;
  setDebug(on: boolean): void;
  lastLog(): string;
  /** sd_notify(3): sends `state` to $NOTIFY_SOCKET; false when it is unset */
  sdNotify(state: string): boolean;
  readonly libbpfVersion: string;
  readonly constants: NativeConstants;
}

/** Errors thrown by the addon for a failed libbpf call or syscall. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  log: string;
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as NativeError).errno === 'number' && typeof (e as NativeError).code === 'string';
}

// build/dist/src/bpf/native.js -> build/Release/quicsteer.node
const addonPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../Release/quicsteer.node');

let loaded: NativeAddon | undefined;

/** The addon, loaded on first use so commands that never touch BPF start fast. */
export function native(): NativeAddon {
  if (!loaded) {
    const require = createRequire(import.meta.url);
    loaded = require(addonPath) as NativeAddon;
  }
  return loaded;
}
