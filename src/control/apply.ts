// apply -f: the whole configuration from one file, as a diff against the pinned state, all or nothing.
import { existsSync } from 'node:fs';
import { native } from '../bpf/native.js';
import { vipKey } from '../datapath/tables.js';
import { VIP_SLOTS, type VipKeyT, type VipT } from '../bpf/layout.js';
import { RuntimeError, UsageError } from './errors.js';
import { ensurePinDir } from './bpffs.js';
import { EMPTY_SNAPSHOT, PinnedState, linkPinPath, removeState, type ServerInput, type Snapshot } from './state.js';
import { readOnly } from './status.js';
import { formatSpec, sidLengths, specsToVip, vipToSpecs } from './spec.js';
import { attach, detachLink, ifindexOf, type Mode } from './attach.js';
import { resolveServer } from './config.js';
import type { ConfigFileT } from './schemas.js';

export interface Desired {
  localId: string;
  interfaces: { name: string; ifindex: number; mode: Mode }[];
  vips: { address: string; key: VipKeyT; value: VipT }[];
  servers: ServerInput[];
}

export interface Plan {
  desired: Desired;
  /** one line per change: "+ …" added, "~ …" changed, "- …" removed */
  changes: string[];
}

/** Resolves names and addresses and checks everything before anything is touched. */
export async function desiredFrom(cfg: ConfigFileT): Promise<Desired> {
  const vips = cfg.vips.map((v) => {
    const address = v.address.ip.includes(':') ? `[${v.address.ip}]:${v.address.port}` : `${v.address.ip}:${v.address.port}`;
    return { address, key: vipKey(v.address.ip, v.address.port), value: specsToVip(v.cid, `VIP ${address}`) };
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
  const d3 = dup(cfg.interfaces.map((i) => i.name));
  if (d3) throw new UsageError(`interface ${d3} appears twice`);
  const lens = new Set(vips.flatMap((v) => sidLengths(vipToSpecs(v.value))));
  for (const id of [cfg.localId, ...cfg.servers.map((s) => s.id)])
    if (lens.size > 0 && !lens.has(id.length / 2))
      throw new UsageError(`server ID ${id} is ${id.length / 2} bytes, but the VIPs' CID layouts carry ${[...lens].sort().join(' or ')}-byte server IDs`);
  const interfaces = cfg.interfaces.map((i) => ({ name: i.name, ifindex: ifindexOf(i.name), mode: i.mode }));
  const servers = await Promise.all(cfg.servers.map((s) => resolveServer(s.id, s)));
  return { localId: cfg.localId, interfaces, vips, servers };
}

export function planAgainst(cur: Snapshot, d: Desired): Plan {
  const changes: string[] = [];
  if (cur.localId !== d.localId) changes.push(cur.localId === null ? `+ local id ${d.localId}` : `~ local id ${cur.localId} -> ${d.localId}`);
  const specsOf = (v: VipT) => vipToSpecs(v).map(formatSpec).join(' ');
  const curVips = new Map(cur.vips.map((v) => [v.address, specsOf(v.value)]));
  for (const v of d.vips) {
    const was = curVips.get(v.address);
    if (was === undefined) changes.push(`+ vip ${v.address} ${specsOf(v.value)}`);
    else if (was !== specsOf(v.value)) changes.push(`~ vip ${v.address} ${was} -> ${specsOf(v.value)}`);
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
  for (const i of d.interfaces) {
    const l = curLinks.get(i.ifindex);
    if (!l) changes.push(`+ attach ${i.name} (${i.mode})`);
    else if (l.mode !== 'unknown' && l.mode !== i.mode) throw new RuntimeError(`${i.name} is attached in ${l.mode} mode; detach it first to change the mode`);
  }
  for (const l of cur.links) if (!d.interfaces.some((i) => i.ifindex === l.ifindex)) changes.push(`- detach ${l.ifname ?? `ifindex ${l.ifindex}`}`);
  return { desired: d, changes };
}

/** What is pinned now (empty when nothing is). */
export function currentSnapshot(pin: string): Snapshot {
  return readOnly(pin, (st) => st.snapshot(), EMPTY_SNAPSHOT);
}

/**
 * Applies a plan. Tables first (each swap atomic), then new attachments, then detachments; on any
 * failure the previous tables and local ID are written back and attachments made here are undone.
 */
export function applyPlan(pin: string, plan: Plan): void {
  const d = plan.desired;
  ensurePinDir(pin);
  const existed = PinnedState.exists(pin);
  const st = PinnedState.openOrCreate(pin);
  const before = st.snapshot();
  const attachedHere: number[] = [];
  try {
    st.writeVips(d.vips.map((v) => ({ key: v.key, value: v.value })));
    st.writeServers(d.servers);
    st.setLocalId(d.localId);
    for (const i of d.interfaces) {
      if (existsSync(linkPinPath(pin, i.ifindex))) continue;
      attach(pin, i.name, d.localId, i.mode);
      attachedHere.push(i.ifindex);
    }
    // links of interfaces no longer listed go last (a defunct one stays for an explicit detach)
    for (const l of before.links) if (l.ifname && !d.interfaces.some((i) => i.ifindex === l.ifindex)) detachLink(pin, l.ifindex);
  } catch (e) {
    for (const ifindex of attachedHere) detachLink(pin, ifindex);
    if (!existed) {
      st.close();
      removeState(pin);
      throw e;
    }
    st.writeVips(before.vips.map((v) => ({ key: v.key, value: v.value })));
    st.writeServers(before.servers.map((s) => ({ id: s.id, mac: s.mac, state: s.state, ifindex: s.ifindex })));
    st.setLocalId(before.localId);
    throw e;
  } finally {
    st.close();
  }
}
