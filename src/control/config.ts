// vips and servers: read the pinned tables, change one entry, write the whole table back (atomic swap).
import { VIP_SLOTS } from '../bpf/layout.js';
import { vipKey } from '../datapath/tables.js';
import { RuntimeError } from './errors.js';
import { ensurePinDir } from './bpffs.js';
import { PinnedState, type ServerInput, type ServerView, type StateName, type VipView } from './state.js';
import { readOnly } from './status.js';
import { formatSpec, specsToVip, type CidSpec } from './spec.js';
import { checkIdFits, ifindexOf } from './attach.js';
import { resolveMac } from './neigh.js';

export type Change = 'added' | 'updated' | 'unchanged' | 'removed';

function withState<T>(pin: string, create: boolean, fn: (st: PinnedState) => T): T {
  if (create) ensurePinDir(pin);
  const st = create ? PinnedState.openOrCreate(pin) : PinnedState.open(pin);
  if (!st) throw new RuntimeError(`no quicsteer state under ${pin}: nothing is configured (quicsteer attach or apply first)`);
  try {
    return fn(st);
  } finally {
    st.close();
  }
}

const sameVip = (a: VipView, specs: CidSpec[]) => a.specs.map(formatSpec).join(' ') === specs.map(formatSpec).join(' ');

export function vipsAdd(pin: string, ep: { ip: string; port: number }, specs: CidSpec[]): Change {
  const where = `VIP ${ep.ip.includes(':') ? `[${ep.ip}]` : ep.ip}:${ep.port}`;
  const value = specsToVip(specs, where);
  const key = vipKey(ep.ip, ep.port);
  return withState(pin, true, (st) => {
    const vips = st.readVips();
    const i = vips.findIndex((v) => v.key.addr.equals(key.addr) && v.port === ep.port && v.key.family === key.family);
    if (i >= 0 && sameVip(vips[i]!, specs)) return 'unchanged';
    if (i < 0 && vips.length >= VIP_SLOTS / 4) throw new RuntimeError(`${where}: the VIP table is full (${VIP_SLOTS / 4})`);
    const next = vips.filter((_, j) => j !== i).map((v) => ({ key: v.key, value: v.value }));
    st.writeVips([...next, { key, value }]);
    return i >= 0 ? 'updated' : 'added';
  });
}

export function vipsRemove(pin: string, ep: { ip: string; port: number }): Change {
  const key = vipKey(ep.ip, ep.port);
  return withState(pin, false, (st) => {
    const vips = st.readVips();
    const rest = vips.filter((v) => !(v.key.addr.equals(key.addr) && v.port === ep.port && v.key.family === key.family));
    if (rest.length === vips.length) throw new RuntimeError(`no VIP ${ep.ip.includes(':') ? `[${ep.ip}]` : ep.ip}:${ep.port}`);
    st.writeVips(rest.map((v) => ({ key: v.key, value: v.value })));
    return 'removed';
  });
}

export function vipsList(pin: string): VipView[] {
  return readOnly(pin, (st) => st.readVips(), []);
}

const asInput = (s: ServerView): ServerInput => ({ id: s.id, mac: s.mac, state: s.state, ifindex: s.ifindex });
const sameServer = (a: ServerInput, b: ServerInput) => a.mac === b.mac && a.state === b.state && a.ifindex === b.ifindex;

/** A server's MAC and egress interface from what the user gave (--mac, or --ip through the neighbour table; --dev). */
export async function resolveServer(id: string, o: { mac?: string; ip?: string; dev?: string; state?: StateName }): Promise<ServerInput> {
  const ifindex = o.dev === undefined ? 0 : ifindexOf(o.dev);
  const mac = o.mac ?? (await resolveMac(o.ip!)).mac;
  return { id, mac, state: o.state ?? 'up', ifindex };
}

export function serversAdd(pin: string, s: ServerInput): Change {
  return withState(pin, true, (st) => {
    checkIdFits(st, s.id, 'server ID');
    const servers = st.readServers().map(asInput);
    const i = servers.findIndex((x) => x.id === s.id);
    if (i >= 0 && sameServer(servers[i]!, s)) return 'unchanged';
    st.writeServers([...servers.filter((_, j) => j !== i), s]);
    return i >= 0 ? 'updated' : 'added';
  });
}

export function serversSet(pin: string, id: string, state: StateName): Change {
  return withState(pin, false, (st) => {
    const servers = st.readServers().map(asInput);
    const s = servers.find((x) => x.id === id);
    if (!s) throw new RuntimeError(`no server ${id}`);
    if (s.state === state) return 'unchanged';
    s.state = state;
    st.writeServers(servers);
    return 'updated';
  });
}

export function serversRemove(pin: string, id: string): Change {
  return withState(pin, false, (st) => {
    const servers = st.readServers().map(asInput);
    if (!servers.some((x) => x.id === id)) throw new RuntimeError(`no server ${id}`);
    st.writeServers(servers.filter((x) => x.id !== id));
    return 'removed';
  });
}

export function serversList(pin: string): ServerView[] {
  return readOnly(pin, (st) => st.readServers(), []);
}

