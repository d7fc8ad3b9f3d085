// The typed BPF layer: objects, programs, maps, links and the shared struct layouts.
export { ObjectSpec, Collection, type OpenOptions } from './object.js';
export { Program, XdpAction, type TestRunOptions, type TestRunResult } from './program.js';
export { BpfMap, PerCpuMap, mapFromFd, openPinnedMap, openPinnedPerCpuMap, type UpdateMode } from './map.js';
export { Link, type XdpMode, type XdpAttachOptions } from './link.js';
export { ClosedError } from './fd.js';
export { isNativeError, type NativeError } from './native.js';
export * as layout from './layout.js';
