// attach / detach: the XDP program on an interface as a pinned bpf_link, updated in place when it changes.
import { existsSync, unlinkSync } from 'node:fs';
import { ObjectSpec, Link, Program, isNativeError } from '../bpf/index.js';
import { native } from '../bpf/native.js';
import { RuntimeError, UsageError } from './errors.js';
import { ensurePinDir } from './bpffs.js';
import { BPF_OBJECT } from './paths.js';
import { PinnedState, linkPinPath, readLink, removeState } from './state.js';
import { sidLengths } from './spec.js';

export type Mode = 'native' | 'generic';

export function ifindexOf(ifname: string): number {
  try {
    return native().ifNameToIndex(ifname);
  } catch {
    throw new UsageError(`no interface '${ifname}' in this network namespace`);
  }
}

/** Refuses an ID no configured VIP layout can carry (it would never match). */
export function checkIdFits(st: PinnedState, id: string, what: string): void {
  const vips = st.readVips().filter((v) => v.specs.length > 0);
  if (vips.length === 0) return;
  const lens = [...new Set(vips.flatMap((v) => sidLengths(v.specs)))].sort((a, b) => a - b);
  if (!lens.includes(id.length / 2))
    throw new UsageError(`${what} ${id} is ${id.length / 2} bytes, but the VIPs' CID layouts carry ${lens.join(' or ')}-byte server IDs`);
}

export interface AttachResult {
  ifname: string;
  ifindex: number;
  mode: Mode;
  program: 'attached' | 'updated' | 'unchanged';
  localId: 'set' | 'changed' | 'unchanged';
  progId: number;
}

export function attach(pin: string, ifname: string, id: string, mode: Mode): AttachResult {
  const ifindex = ifindexOf(ifname);
  ensurePinDir(pin);
  const existed = PinnedState.exists(pin);
  const coll = ObjectSpec.open(BPF_OBJECT, { pinRootPath: pin }).load();
  const st = PinnedState.open(pin)!;
  let ok = false;
  try {
    checkIdFits(st, id, 'server ID');
    const prog = coll.program('quicsteer_xdp');
    const linkPin = linkPinPath(pin, ifindex);
    let program: AttachResult['program'];
    let progId = prog.info().id;
    let attachedNow: Link | undefined;
    if (existsSync(linkPin)) {
      const cur = readLink(linkPin);
      if (cur.mode !== 'unknown' && cur.mode !== mode)
        throw new RuntimeError(`${ifname} is attached in ${cur.mode} mode; detach it first to change the mode`);
      const running = Program.fromId(cur.progId);
      try {
        if (running.info().tag === prog.info().tag) {
          program = 'unchanged';
          progId = cur.progId;
        } else {
          const link = Link.openPinned(linkPin);
          try {
            link.update(prog, running); // atomic swap: never a moment without a program
          } finally {
            link.close();
          }
          program = 'updated';
        }
      } finally {
        running.close();
      }
    } else {
      const other = native().xdpQuery(ifindex).progId;
      if (other) throw new RuntimeError(`${ifname} already runs XDP program ${other}, not attached by quicsteer: remove it first (ip link set ${ifname} xdp off)`);
      try {
        attachedNow = Link.attachXdp(prog, { ifindex, mode });
      } catch (e) {
        if (isNativeError(e) && mode === 'native' && ['EOPNOTSUPP', 'EINVAL'].includes(e.code))
          throw new RuntimeError(`${ifname} refused native XDP (${e.code}): its driver may not support it; try --mode generic`);
        throw e;
      }
      attachedNow.pin(linkPin);
      program = 'attached';
    }
    const before = st.localId();
    try {
      if (before !== id) st.setLocalId(id);
    } catch (e) {
      // nothing half-applied: a link made by this call goes again
      if (attachedNow) unlinkSync(linkPin);
      throw e;
    } finally {
      attachedNow?.close();
    }
    ok = true;
    return { ifname, ifindex, mode, program, localId: before === null ? 'set' : before === id ? 'unchanged' : 'changed', progId };
  } finally {
    st.close();
    coll.close();
    // a failed first attach leaves nothing behind
    if (!ok && !existed) removeState(pin);
  }
}

export interface DetachResult {
  ifname: string;
  detached: boolean;
  /** true when this was the last interface and every pinned object went with it */
  removedState: boolean;
}

/** Detaches the program from one interface (unpinning its link); false if it was not attached. */
export function detachLink(pin: string, ifindex: number): boolean {
  const linkPin = linkPinPath(pin, ifindex);
  if (!existsSync(linkPin)) return false;
  const link = Link.openPinned(linkPin);
  try {
    link.detach();
  } finally {
    link.close();
  }
  unlinkSync(linkPin);
  return true;
}

/** detach: the interface's link goes; with the last one, every pinned object goes too. */
export function detach(pin: string, ifname: string): DetachResult {
  const detached = detachLink(pin, ifindexOf(ifname));
  const st = PinnedState.open(pin);
  const left = st ? st.readLinks().length : 0;
  st?.close();
  if (left === 0) removeState(pin);
  return { ifname, detached, removedState: left === 0 };
}
