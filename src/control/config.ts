// vips and servers: under the writer lock, read the live configuration, change one entry, publish the whole of it as a new generation.
import { VIP_SLOTS } from '../bpf/layout.js';
import { vipKey } from '../datapath/tables.js';
import { RuntimeError, UsageError } from './errors.js';
import { ensurePinDir } from './bpffs.js';
import { PinnedState, vipViews, wantedOf, type ServerInput, type ServerView, type StateName, type VipView, type Wanted } from './state.js';
import { withWriteLock } from './lock.js';
import type { VipKeyT } from '../bpf/layout.js';
import { readOnly } from './status.js';
import { formatSpec, ietfSpecs, sameSpecs, specsToVip, withKeys, type CidSpec } from './spec.js';
import { checkIdFits, ifindexOf } from './attach.js';
import { resolveMac } from './neigh.js';
import { checkUnicastMac } from './schemas.js';

export type Change = 'added' | 'updated' | 'unchanged' | 'removed';

/**
 * A read-modify-write of the whole configuration under the pin path's writer lock: `fn` gets the
 * live configuration (and its VIPs as views) and returns the next one (or null for no change) and
 * its result; the next one is published as one generation. The live generation is read once.
 */
function change<T>(pin: string, create: boolean, fn: (w: Wanted, vips: VipView[]) => { next: Wanted | null; result: T }): T {
  return withWriteLock(pin, () => {
    if (create) ensurePinDir(pin);
    const st = create ? PinnedState.openOrCreate(pin) : PinnedState.openForWrite(pin);
    if (!st) throw new RuntimeError(`no quicsteer state under ${pin}: nothing is configured (quicsteer attach or apply first)`);
    try {
      const live = st.image();
      const { next, result } = fn(wantedOf(live), vipViews(live));
      if (next) st.commit(next, live);
      return result;
    } finally {
      st.close();
    }
  });
}

const sameVip = (a: VipView, specs: CidSpec[]) => sameSpecs(a.specs, specs);
const sameKey = (a: VipKeyT, b: VipKeyT) => a.addr.equals(b.addr) && a.port === b.port && a.family === b.family;

export function vipsAdd(pin: string, ep: { ip: string; port: number }, specs: CidSpec[]): Change {
  const where = `VIP ${ep.ip.includes(':') ? `[${ep.ip}]` : ep.ip}:${ep.port}`;
  specs = withKeys(specs);
  const value = specsToVip(specs, where);
  const key = vipKey(ep.ip, ep.port);
  return change(pin, true, (w, vips) => {
    const i = vips.findIndex((v) => sameKey(v.key, key));
    if (i >= 0 && sameVip(vips[i]!, specs)) return { next: null, result: 'unchanged' as Change };
    if (i < 0 && vips.length >= VIP_SLOTS / 4) throw new RuntimeError(`${where}: the VIP table is full (${VIP_SLOTS / 4})`);
    return { next: { ...w, vips: [...w.vips.filter((v) => !sameKey(v.key, key)), { key, value }] }, result: i >= 0 ? 'updated' : 'added' };
  });
}

const where = (ep: { ip: string; port: number }) => `VIP ${ep.ip.includes(':') ? `[${ep.ip}]` : ep.ip}:${ep.port}`;

/**
 * Adds one QUIC-LB config beside a VIP's others (key rotation: the new codepoint decodes while the
 * old one still does). Its codepoint must be free, or hold this very config (unchanged): a live
 * config is never changed in place, since its connections' CIDs would stop decoding.
 */
export function vipsConfigAdd(pin: string, ep: { ip: string; port: number }, spec: CidSpec): Change {
  const w = where(ep);
  if (spec.kind !== 'quic-lb') throw new UsageError(`${w}: only quic-lb configs are added one by one (vips add sets other layouts)`);
  const [s] = withKeys([spec]) as [typeof spec];
  const key = vipKey(ep.ip, ep.port);
  return change(pin, false, (cur, vips) => {
    const v = vips.find((x) => sameKey(x.key, key));
    if (!v) throw new RuntimeError(`no ${w}: add it with vips add`);
    const ietf = ietfSpecs(v.specs);
    if (ietf.length === 0 || ietf.some((x) => x.kind !== 'quic-lb'))
      throw new UsageError(`${w} has the ${ietf.length ? formatSpec(ietf[0]!) : 'gquic-only'} layout: quic-lb configs cannot be mixed with it`);
    const same = v.specs.find((x) => x.kind === 'quic-lb' && x.cr === s.cr);
    if (same && sameSpecs([same], [s])) return { next: null, result: 'unchanged' as Change };
    if (same)
      throw new RuntimeError(`${w}: cr=${s.cr} holds ${formatSpec(same)}: changing a live config in place strands its connections; add the new one at a free cr, then remove cr=${s.cr} (vips config remove)`);
    const value = specsToVip([...v.specs, s], w);
    return { next: { ...cur, vips: cur.vips.map((x) => (sameKey(x.key, key) ? { key, value } : x)) }, result: 'added' as Change };
  });
}

/** Removes a VIP's QUIC-LB config at codepoint `cr` (the end of a rotation); the last one stays (vips remove removes the VIP). */
export function vipsConfigRemove(pin: string, ep: { ip: string; port: number }, cr: number): Change {
  const w = where(ep);
  const key = vipKey(ep.ip, ep.port);
  return change(pin, false, (cur, vips) => {
    const v = vips.find((x) => sameKey(x.key, key));
    if (!v) throw new RuntimeError(`no ${w}`);
    const rest = v.specs.filter((x) => !(x.kind === 'quic-lb' && x.cr === cr));
    if (rest.length === v.specs.length) throw new RuntimeError(`${w} has no quic-lb config at cr=${cr}`);
    if (ietfSpecs(rest).length === 0) throw new UsageError(`${w}: cr=${cr} is its only config: remove the VIP instead (vips remove)`);
    const value = specsToVip(rest, w);
    return { next: { ...cur, vips: cur.vips.map((x) => (sameKey(x.key, key) ? { key, value } : x)) }, result: 'removed' as Change };
  });
}

export function vipsRemove(pin: string, ep: { ip: string; port: number }): Change {
  const key = vipKey(ep.ip, ep.port);
  return change(pin, false, (w) => {
    const rest = w.vips.filter((v) => !sameKey(v.key, key));
    if (rest.length === w.vips.length) throw new RuntimeError(`no VIP ${ep.ip.includes(':') ? `[${ep.ip}]` : ep.ip}:${ep.port}`);
    return { next: { ...w, vips: rest }, result: 'removed' as Change };
  });
}

export function vipsList(pin: string): VipView[] {
  return readOnly(pin, (st) => st.readVips(), []);
}

const sameServer = (a: ServerInput, b: ServerInput) => a.mac === b.mac && a.state === b.state && a.ifindex === b.ifindex;

/** A server's MAC and egress interface from what the user gave (--mac, or --ip through the neighbour table; --dev). */
export async function resolveServer(id: string, o: { mac?: string; ip?: string; dev?: string; state?: StateName }): Promise<ServerInput> {
  const ifindex = o.dev === undefined ? 0 : ifindexOf(o.dev);
  const mac = o.mac ?? (await resolveMac(o.ip!)).mac;
  // a neighbour entry can hold anything: a broadcast or multicast owner would flood steered packets
  checkUnicastMac(mac, `MAC of ${o.ip ?? id}`);
  return { id, mac, state: o.state ?? 'up', ifindex };
}

export function serversAdd(pin: string, s: ServerInput): Change {
  return change(pin, true, (w, vips) => {
    checkIdFits(vips, s.id, 'server ID');
    const i = w.servers.findIndex((x) => x.id === s.id);
    if (i >= 0 && sameServer(w.servers[i]!, s)) return { next: null, result: 'unchanged' as Change };
    return { next: { ...w, servers: [...w.servers.filter((_, j) => j !== i), s] }, result: i >= 0 ? 'updated' : 'added' };
  });
}

export function serversSet(pin: string, id: string, state: StateName): Change {
  return change(pin, false, (w) => {
    const s = w.servers.find((x) => x.id === id);
    if (!s) throw new RuntimeError(`no server ${id}`);
    if (s.state === state) return { next: null, result: 'unchanged' as Change };
    return { next: { ...w, servers: w.servers.map((x) => (x.id === id ? { ...x, state } : x)) }, result: 'updated' as Change };
  });
}

export function serversRemove(pin: string, id: string): Change {
  return change(pin, false, (w) => {
    if (!w.servers.some((x) => x.id === id)) throw new RuntimeError(`no server ${id}`);
    return { next: { ...w, servers: w.servers.filter((x) => x.id !== id) }, result: 'removed' as Change };
  });
}

export function serversList(pin: string): ServerView[] {
  return readOnly(pin, (st) => st.readServers(), []);
}
