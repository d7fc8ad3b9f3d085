// apply -f: the whole configuration from one file, as a diff against the live generation, published as one.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { native } from '../bpf/native.js';
import { endpointString, vipKey } from '../datapath/tables.js';
import { VIP_SLOTS, type VipKeyT, type VipT } from '../bpf/layout.js';
import { RuntimeError, UsageError } from './errors.js';
import { ensurePinDir } from './bpffs.js';
import { EMPTY_SNAPSHOT, PinnedState, linkPinPath, prepare, type LinkView, type Prepared, type ServerInput, type Snapshot, type Wanted } from './state.js';
import { EMPTY_IMAGE, type Image } from '../datapath/install.js';
import { withWriteLock } from './lock.js';
import { readOnly } from './status.js';
import { formatSpec, sameSpecs, sidLengths, specsToVip, vipToSpecs, withKeys } from './spec.js';
import { attachLink, detachLink, dropUnusedKfuncPins, ifindexOf, removeAll, type Mode } from './attach.js';
import { resolveAes, type AesImpl } from './aes.js';
import { CRYPTO_MAP, type KernelCrypto } from '../datapath/crypto.js';
import { resolveServer } from './config.js';
import type { ConfigFileT } from './schemas.js';

export interface Desired {
  localId: string;
  /** null: the file names none, attachments stay as they are */
  interfaces: { name: string; ifindex: number; mode: Mode }[] | null;
  /** the AES implementation of every listed interface; null: the file names none (attached ones keep theirs) */
  aes: AesImpl | null;
  vips: { address: string; key: VipKeyT; value: VipT }[];
  servers: ServerInput[];
}

export interface Plan {
  desired: Desired;
  /** one line per change: "+ …" added, "~ …" changed, "- …" removed */
  changes: string[];
}

/** Resolves names and addresses and checks everything before anything is touched. */
export async function desiredFrom(cfg: ConfigFileT, o: { keyBase?: string; probe?: () => KernelCrypto } = {}): Promise<Desired> {
  // "aes": "kfunc" on a kernel without the kfuncs is refused before anything is touched
  const aes = cfg.aes === undefined ? null : resolveAes(cfg.aes, o.probe);
  const vips = cfg.vips.map((v) => {
    // one spelling per address: duplicates are found after normalisation ([2001:db8::0010] = [2001:db8::10])
    const key = vipKey(v.address.ip, v.address.port);
    const address = endpointString(key.family, key.addr, key.port);
    // key files: relative paths from the apply file's folder
    return { address, key, value: specsToVip(withKeys(v.cid, o.keyBase), `VIP ${address}`) };
  });
  const dup = (xs: string[]) => {
    const seen = new Set<string>();
    return xs.find((x) => seen.size === seen.add(x).size);
  };
  const d1 = dup(vips.map((v) => v.address));
  if (d1) throw new UsageError(`VIP ${d1} appears twice`);
  if (vips.length > VIP_SLOTS / 4) throw new UsageError(`${vips.length} VIPs: the table holds ${VIP_SLOTS / 4}`);
  const d2 = dup(cfg.servers.map((s) => s.id));
  if (d2) throw new UsageError(`server ${d2} appears twice`);
  const d3 = dup((cfg.interfaces ?? []).map((i) => i.name));
  if (d3) throw new UsageError(`interface ${d3} appears twice`);
  const lens = new Set(vips.flatMap((v) => sidLengths(vipToSpecs(v.value))));
  for (const id of [cfg.localId, ...cfg.servers.map((s) => s.id)])
    if (lens.size > 0 && !lens.has(id.length / 2))
      throw new UsageError(`server ID ${id} is ${id.length / 2} bytes, but the VIPs' CID layouts carry ${[...lens].sort().join(' or ')}-byte server IDs`);
  const interfaces = cfg.interfaces ? cfg.interfaces.map((i) => ({ name: i.name, ifindex: ifindexOf(i.name), mode: i.mode })) : null;
  const servers = await Promise.all(cfg.servers.map((s) => resolveServer(s.id, s)));
  return { localId: cfg.localId, interfaces, aes, vips, servers };
}

export function planAgainst(cur: Snapshot, d: Desired): Plan {
  const changes: string[] = [];
  if (cur.localId !== d.localId) changes.push(cur.localId === null ? `+ local id ${d.localId}` : `~ local id ${cur.localId} -> ${d.localId}`);
  const specsOf = (v: VipT) => vipToSpecs(v).map(formatSpec).join(' ');
  const curVips = new Map(cur.vips.map((v) => [v.address, v.value]));
  for (const v of d.vips) {
    const was = curVips.get(v.address);
    if (was === undefined) changes.push(`+ vip ${v.address} ${specsOf(v.value)}`);
    else if (!sameSpecs(vipToSpecs(was), vipToSpecs(v.value))) changes.push(`~ vip ${v.address} ${specsOf(was)} -> ${specsOf(v.value)}`);
  }
  for (const a of curVips.keys()) if (!d.vips.some((v) => v.address === a)) changes.push(`- vip ${a}`);
  const via = (i: number) => {
    try {
      return native().ifIndexToName(i);
    } catch {
      return `ifindex ${i}`;
    }
  };
  const show = (s: { mac: string; state: string; ifindex: number }) => `${s.mac} ${s.state}${s.ifindex ? ` via ${via(s.ifindex)}` : ''}`;
  const curServers = new Map(cur.servers.map((s) => [s.id, s]));
  for (const s of d.servers) {
    const was = curServers.get(s.id);
    if (!was) changes.push(`+ server ${s.id} ${show(s)}`);
    else if (show(was) !== show(s)) changes.push(`~ server ${s.id} ${show(was)} -> ${show(s)}`);
  }
  for (const id of curServers.keys()) if (!d.servers.some((s) => s.id === id)) changes.push(`- server ${id}`);
  const curLinks = new Map(cur.links.map((l) => [l.ifindex, l]));
  for (const i of d.interfaces ?? []) {
    const l = curLinks.get(i.ifindex);
    if (!l) changes.push(`+ attach ${i.name} (${i.mode}${d.aes ? `, aes ${d.aes}` : ''})`);
    else if (l.mode !== 'unknown' && l.mode !== i.mode) throw new RuntimeError(`${i.name} is attached in ${l.mode} mode; detach it first to change the mode`);
    else if (d.aes && l.aes !== d.aes) changes.push(`~ aes ${i.name} ${l.aes} -> ${d.aes}`);
  }
  if (d.interfaces) for (const l of cur.links) if (!d.interfaces.some((i) => i.ifindex === l.ifindex)) changes.push(`- detach ${l.ifname ?? `ifindex ${l.ifindex}`}`);
  return { desired: d, changes };
}

const wantedOfDesired = (d: Desired): Wanted => ({ localId: d.localId, vips: d.vips.map((v) => ({ key: v.key, value: v.value })), servers: d.servers });

/**
 * Plans `d` against the live generation and, unless a dry run, applies it, all under the writer
 * lock so no other writer's change slips between the plan and the write. The live generation is
 * read once and the next one built once; a dry run builds it too (every capacity and duplicate
 * check of the write) and writes nothing.
 */
export function applyDesired(pin: string, d: Desired, o: { dryRun?: boolean } = {}): Plan & { removedState: boolean } {
  const planned = (st: PinnedState | null) => {
    const live: Image = st ? st.image() : EMPTY_IMAGE;
    const cur = st ? st.snapshot(live) : EMPTY_SNAPSHOT;
    return { plan: planAgainst(cur, d), live, links: cur.links };
  };
  if (o.dryRun) {
    const { plan, live } = readOnly(pin, planned, planned(null));
    prepare(wantedOfDesired(d), live);
    return { ...plan, removedState: false };
  }
  return withWriteLock(pin, () => {
    const st = PinnedState.openForWrite(pin);
    try {
      const { plan, live, links } = planned(st);
      if (!plan.changes.length) return { ...plan, removedState: false };
      return { ...plan, removedState: applyPlan(pin, st, plan, prepare(wantedOfDesired(d), live), links) };
    } finally {
      st?.close();
    }
  });
}

/**
 * Applies a plan (the caller holds the writer lock and has built the generation from the live one
 * of `existing`, null when nothing is pinned). New interfaces are attached first, then the
 * generation is published with one flip; an attach that fails undoes the attachments made here and
 * publishes nothing. Links of interfaces no longer listed go last (a file without "interfaces"
 * leaves attachments as they are); with an empty list every pinned object goes (as after the last
 * detach). Returns whether it did.
 */
function applyPlan(pin: string, existing: PinnedState | null, plan: Plan, next: Prepared, links: LinkView[]): boolean {
  const d = plan.desired;
  ensurePinDir(pin);
  const st = existing ?? PinnedState.create(pin);
  const attachedHere: number[] = [];
  const switched: { i: { name: string; ifindex: number; mode: Mode }; was: AesImpl }[] = [];
  // a contexts map made here holds none for the live generation: it is published once more before a kfunc program runs
  let contexts = existsSync(path.join(pin, CRYPTO_MAP));
  const beforeSwap = (aes: AesImpl) => () => {
    if (aes !== 'kfunc' || contexts) return;
    st.commit(st.wanted());
    contexts = true;
  };
  try {
    for (const i of d.interfaces ?? []) {
      const cur = links.find((l) => l.ifindex === i.ifindex);
      if (existsSync(linkPinPath(pin, i.ifindex))) {
        if (!d.aes || !cur || cur.aes === d.aes || cur.aes === 'unknown') continue;
        attachLink(pin, i.name, i.ifindex, i.mode, { aes: d.aes, beforeSwap: beforeSwap(d.aes) });
        switched.push({ i, was: cur.aes });
        continue;
      }
      const aes = d.aes ?? resolveAes('auto');
      attachLink(pin, i.name, i.ifindex, i.mode, { aes, beforeSwap: beforeSwap(aes) });
      attachedHere.push(i.ifindex);
    }
    st.publishPrepared(next);
  } catch (e) {
    for (const ifindex of attachedHere) detachLink(pin, ifindex);
    for (const { i, was } of switched) attachLink(pin, i.name, i.ifindex, i.mode, { aes: was });
    // a state made here goes again: nothing half-applied
    if (!existing) removeAll(pin);
    else dropUnusedKfuncPins(pin);
    throw e;
  } finally {
    if (!existing) st.close();
  }
  if (d.aes === 'table') dropUnusedKfuncPins(pin);
  // links of interfaces no longer listed (a defunct one too: the file no longer names it)
  if (d.interfaces === null) return false;
  for (const l of links) if (!d.interfaces.some((i) => i.ifindex === l.ifindex)) detachLink(pin, l.ifindex);
  if (d.interfaces.length === 0) {
    removeAll(pin);
    return true;
  }
  return false;
}
