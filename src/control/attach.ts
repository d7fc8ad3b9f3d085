// attach / detach / reset: the XDP program on an interface as a pinned bpf_link, updated in place when
// it changes; every change under the pin path's writer lock, and every fault removable from the CLI.
import { existsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ObjectSpec, Link, Program, isNativeError } from '../bpf/index.js';
import { native } from '../bpf/native.js';
import { RuntimeError, UsageError } from './errors.js';
import { ensurePinDir, releasePinDir } from './bpffs.js';
import { PROGRAM_NAME, PinnedState, inventory, linkPinPath, readLinks, removeMaps, vipViews, wantedOf, type VipView } from './state.js';
import { objectFor, pinCryptoProgram, removeKfuncPins, resolveAes, type AesChoice, type AesImpl } from './aes.js';
import { CRYPTO_MAP, CRYPTO_PROGRAM, type KernelCrypto } from '../datapath/crypto.js';
import { withWriteLock } from './lock.js';
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
export function checkIdFits(vips: VipView[], id: string, what: string): void {
  const laid = vips.filter((v) => v.specs.length > 0);
  if (laid.length === 0) return;
  const lens = [...new Set(laid.flatMap((v) => sidLengths(v.specs)))].sort((a, b) => a - b);
  if (!lens.includes(id.length / 2))
    throw new UsageError(`${what} ${id} is ${id.length / 2} bytes, but the VIPs' CID layouts carry ${lens.join(' or ')}-byte server IDs`);
}

export interface AttachResult {
  ifname: string;
  ifindex: number;
  mode: Mode;
  /** the AES implementation the program on the interface has */
  aes: AesImpl;
  program: 'attached' | 'updated' | 'unchanged';
  localId: 'set' | 'changed' | 'unchanged';
  progId: number;
}

/** Whatever XDP program runs on an interface, named: quicsteer's (from which pin path) or another. */
function describeRunning(ifname: string, progId: number): string {
  let name = '';
  try {
    const p = Program.fromId(progId);
    try {
      name = p.info().name;
    } finally {
      p.close();
    }
  } catch {
    // gone meanwhile
  }
  if (name === PROGRAM_NAME)
    return `${ifname} already runs quicsteer (prog id ${progId}) attached under another pin path or by hand: use that --pin-path, or remove it there (ip link set ${ifname} xdp off removes a hand-attached one)`;
  return `${ifname} already runs XDP program ${progId}${name ? ` (${name})` : ''}, not attached by quicsteer: remove it first (ip link set ${ifname} xdp off)`;
}

export interface AttachLinkOptions {
  /** which object: table (default) or kfunc (its contexts map is pinned with the rest, its syscall program at crypto-set) */
  aes?: AesImpl;
  /** run after the object is loaded (and its pins made), before the program goes on the link */
  beforeSwap?: () => void;
}

/**
 * Attaches (or updates in place) the program on one interface and pins the link. The caller holds
 * the writer lock and has made the pin directory. Returns what happened and the program id.
 */
export function attachLink(pin: string, ifname: string, ifindex: number, mode: Mode, o: AttachLinkOptions = {}): { program: AttachResult['program']; progId: number } {
  const aes = o.aes ?? 'table';
  const coll = ObjectSpec.open(objectFor(aes), { pinRootPath: pin }).load();
  try {
    if (aes === 'kfunc') pinCryptoProgram(pin, coll.program(CRYPTO_PROGRAM));
    o.beforeSwap?.();
    const prog = coll.program(PROGRAM_NAME);
    const linkPin = linkPinPath(pin, ifindex);
    if (existsSync(linkPin)) {
      const cur = readLinks(pin).links.find((l) => l.pin === linkPin);
      if (!cur) throw new RuntimeError(`${linkPin} is pinned but is not a quicsteer link: remove it (quicsteer reset lists what it leaves)`);
      if (cur.mode !== 'unknown' && cur.mode !== mode) throw new RuntimeError(`${ifname} is attached in ${cur.mode} mode; detach it first to change the mode`);
      const running = Program.fromId(cur.progId);
      try {
        if (running.info().tag === prog.info().tag) return { program: 'unchanged', progId: cur.progId };
        const link = Link.openPinned(linkPin);
        try {
          link.update(prog, running); // atomic swap: never a moment without a program
        } finally {
          link.close();
        }
        return { program: 'updated', progId: prog.info().id };
      } finally {
        running.close();
      }
    }
    const other = native().xdpQuery(ifindex).progId;
    if (other) throw new RuntimeError(describeRunning(ifname, other));
    let link: Link;
    try {
      link = Link.attachXdp(prog, { ifindex, mode });
    } catch (e) {
      if (isNativeError(e) && mode === 'native' && ['EOPNOTSUPP', 'EINVAL'].includes(e.code))
        throw new RuntimeError(`${ifname} refused native XDP (${e.code}): its driver may not support it; try --mode generic`);
      throw e;
    }
    try {
      link.pin(linkPin);
    } finally {
      link.close();
    }
    return { program: 'attached', progId: prog.info().id };
  } finally {
    coll.close();
  }
}

export interface AttachOptions {
  force?: boolean;
  /** the AES implementation (default auto) */
  aes?: AesChoice;
  /** what the kernel offers (injectable for tests; default: probed) */
  probe?: () => KernelCrypto;
}

export function attach(pin: string, ifname: string, id: string, mode: Mode, o: AttachOptions = {}): AttachResult {
  const ifindex = ifindexOf(ifname);
  // refused before anything changes
  const aes = resolveAes(o.aes ?? 'auto', o.probe);
  return withWriteLock(pin, () => {
    ensurePinDir(pin);
    const found = PinnedState.openForWrite(pin);
    const existed = found !== null;
    const st = found ?? PinnedState.create(pin);
    let ok = false;
    try {
      const live = st.image();
      checkIdFits(vipViews(live), id, 'server ID');
      const w = wantedOf(live);
      const before = w.localId;
      if (before !== null && before !== id && !o.force)
        throw new UsageError(`this server's local ID is ${before} on every interface; attach --id ${id} would change it: pass --force, or change "localId" through quicsteer apply`);
      // the local ID first: the program never runs on a new interface without it
      if (before !== id) st.commit({ ...w, localId: id }, live);
      // contexts exist from the moment the map is pinned: a new map's live generation has none until one more publish
      const hadContexts = existsSync(path.join(pin, CRYPTO_MAP));
      const beforeSwap = () => {
        if (aes === 'kfunc' && !hadContexts) st.commit(st.wanted());
      };
      let r;
      try {
        r = attachLink(pin, ifname, ifindex, mode, { aes, beforeSwap });
      } catch (e) {
        if (existed && before !== id) st.commit({ ...st.wanted(), localId: before });
        if (!hadContexts && existed) dropUnusedKfuncPins(pin);
        throw e;
      }
      if (aes === 'table') dropUnusedKfuncPins(pin);
      ok = true;
      return { ifname, ifindex, mode, aes, program: r.program, localId: before === null ? 'set' : before === id ? 'unchanged' : 'changed', progId: r.progId } as AttachResult;
    } finally {
      st.close();
      // a failed first attach leaves nothing behind
      if (!ok && !existed) removeAll(pin);
    }
  });
}

/**
 * This build's program on every attached interface: loaded once per link and swapped in with
 * bpf_link_update where the running one differs (an upgrade), left alone where it is the same.
 * Returns the swaps.
 */
export function refreshPrograms(pin: string): { ifname: string; from: number; to: number }[] {
  return withWriteLock(pin, () => {
    const swaps: { ifname: string; from: number; to: number }[] = [];
    for (const l of readLinks(pin).links) {
      if (l.ifname === null) continue; // defunct: status names it
      const r = attachLink(pin, l.ifname, l.ifindex, l.mode === 'unknown' ? 'native' : l.mode, { aes: l.aes === 'kfunc' ? 'kfunc' : 'table' });
      if (r.program === 'updated') swaps.push({ ifname: l.ifname, from: l.progId, to: r.progId });
    }
    return swaps;
  });
}

/** Detaches and unpins one link; a defunct one (interface gone) is unpinned all the same. */
export function detachLink(pin: string, ifindex: number): boolean {
  const linkPin = linkPinPath(pin, ifindex);
  if (!existsSync(linkPin)) return false;
  try {
    const link = Link.openPinned(linkPin);
    try {
      link.detach();
    } finally {
      link.close();
    }
  } catch (e) {
    // a link whose interface is gone is detached already (ENOLINK and friends): the pin still goes
    if (!isNativeError(e)) throw e;
  }
  unlinkSync(linkPin);
  return true;
}

/** Removes every link and map quicsteer pinned under `pin` and what quicsteer mounted for it; foreign pins stay. */
export function removeAll(pin: string): { removed: string[]; left: string[] } {
  const removed: string[] = [];
  const { links, foreign } = readLinks(pin);
  for (const l of links) if (detachLink(pin, l.ifindex)) removed.push(path.basename(l.pin));
  removed.push(...removeMaps(pin));
  const left = [...foreign, ...inventory(pin).other];
  if (left.length === 0) {
    try {
      releasePinDir(pin);
    } catch (e) {
      // the state is gone; a bpffs that will not unmount is worth a line, not a failure
      process.stderr.write(`quicsteer: warning: ${(e as Error).message}\n`);
    }
  }
  return { removed, left };
}

export interface DetachResult {
  ifname: string;
  detached: boolean;
  /** true when this was the last interface and every pinned object went with it */
  removedState: boolean;
  /** what else is worth knowing (another pin path's quicsteer on the interface, pins left) */
  note?: string;
}

/** Resolves an interface name, or the ifindex of a link whose interface is gone (a number). */
function targetIfindex(pin: string, target: string): number {
  try {
    return native().ifNameToIndex(target);
  } catch {
    if (/^\d+$/.test(target) && existsSync(linkPinPath(pin, Number(target)))) return Number(target);
    const defunct = readLinks(pin).links.filter((l) => l.ifname === null);
    throw new UsageError(
      `no interface '${target}' in this network namespace${defunct.length ? `; links whose interface is gone: ${defunct.map((l) => l.ifindex).join(', ')} (quicsteer detach <ifindex>, or quicsteer detach --all)` : ''}`,
    );
  }
}

/** The kfunc implementation's pins go once no link runs a program that uses them (publishes stop making contexts). */
export function dropUnusedKfuncPins(pin: string): void {
  if (inventory(pin).kfunc.length === 0) return;
  if (readLinks(pin).links.some((l) => l.aes !== 'table')) return;
  removeKfuncPins(pin);
}

/** After the last link: the maps go too (nothing runs that could use them). */
function removeIfUnused(pin: string): { removedState: boolean; left: string[] } {
  const inv = inventory(pin);
  if (readLinks(pin).links.length > 0 || (inv.maps.length === 0 && inv.links.length === 0)) return { removedState: false, left: [] };
  const r = removeAll(pin);
  return { removedState: r.removed.length > 0, left: r.left };
}

/** detach: the interface's link goes; with the last one, every pinned object goes too. */
export function detach(pin: string, target: string): DetachResult {
  return withWriteLock(pin, () => {
    const ifindex = targetIfindex(pin, target);
    const detached = detachLink(pin, ifindex);
    let note: string | undefined;
    if (!detached) {
      let running = 0;
      try {
        running = native().xdpQuery(ifindex).progId;
      } catch {
        // interface gone
      }
      if (running) note = describeRunning(target, running).replace(/ already runs /, ' runs ');
    }
    const { removedState, left } = removeIfUnused(pin);
    if (!removedState) dropUnusedKfuncPins(pin);
    if (left.length) note = `${note ? `${note}; ` : ''}left under ${pin} (not quicsteer's): ${left.join(', ')}`;
    return { ifname: target, detached, removedState, ...(note ? { note } : {}) };
  });
}

/** detach --all: every link under the pin path (defunct ones included), then the maps. */
export function detachAll(pin: string): { detached: number[]; removedState: boolean; left: string[] } {
  return withWriteLock(pin, () => {
    const detached = readLinks(pin).links.filter((l) => detachLink(pin, l.ifindex)).map((l) => l.ifindex);
    const r = removeIfUnused(pin);
    return { detached, removedState: r.removedState, left: r.left };
  });
}

/** reset: removes everything quicsteer pinned under the pin path, whatever shape it is in. */
export function reset(pin: string): { removed: string[]; left: string[] } {
  return withWriteLock(pin, () => removeAll(pin));
}
