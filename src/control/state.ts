// The pinned state of one real server: the program's maps and XDP links under the pin path.
import { existsSync, readFileSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ObjectSpec, Link, openPinnedMap, openPinnedPerCpuMap, type BpfMap, type PerCpuMap } from '../bpf/index.js';
import { native } from '../bpf/native.js';
import { whole, u32 } from '../bpf/codec.js';
import { Config, Counter, MAX_SERVERS, Reasons, ServerState, type CounterT, type ServerIdT, type VipKeyT, type VipT } from '../bpf/layout.js';
import { PEER_TABLE, SERVER_TABLE, VIP_TABLE, readTable, writeTable } from '../datapath/install.js';
import { endpointString, ipString, macBytes, macKey, macString, serverValue, sidKey } from '../datapath/tables.js';
import { RuntimeError } from './errors.js';
import { BPF_OBJECT } from './paths.js';
import { fsTypeOf } from './bpffs.js';
import { vipToSpecs, type CidSpec } from './spec.js';

export const MAP_NAMES = ['qs_vips', 'qs_servers', 'qs_peers', 'qs_tx_ports', 'qs_config', 'qs_stats', 'qs_server_stats'] as const;
const LINK_PREFIX = 'link-';
const U32 = whole(u32);

export type StateName = 'up' | 'down' | 'drain';
const STATE_NAMES: Record<number, StateName> = { [ServerState.UP]: 'up', [ServerState.DOWN]: 'down', [ServerState.DRAIN]: 'drain' };
export const STATE_VALUES: Record<StateName, number> = { up: ServerState.UP, down: ServerState.DOWN, drain: ServerState.DRAIN };

export interface VipView {
  address: string;
  ip: string;
  port: number;
  key: VipKeyT;
  value: VipT;
  specs: CidSpec[];
}

export interface ServerView {
  id: string;
  mac: string;
  state: StateName;
  /** egress ifindex; 0 = back out of the ingress interface */
  ifindex: number;
  dev: string | null;
  srcMac: string;
  slot: number;
}

export interface LinkView {
  ifindex: number;
  ifname: string | null;
  mode: 'native' | 'generic' | 'unknown';
  progId: number;
  linkId: number;
  pin: string;
}

export interface Snapshot {
  localId: string | null;
  vips: VipView[];
  servers: ServerView[];
  links: LinkView[];
}

/** The snapshot of a pin path with no state. */
export const EMPTY_SNAPSHOT: Snapshot = { localId: null, vips: [], servers: [], links: [] };

/** A server as written: slot and egress MAC are filled in by writeServers. */
export interface ServerInput {
  id: string;
  mac: string;
  state: StateName;
  ifindex: number;
}

function ifname(ifindex: number): string | null {
  try {
    return native().ifIndexToName(ifindex);
  } catch {
    return null;
  }
}

/** An interface's own MAC address (sysfs of this process' network namespace). */
export function devMac(dev: string): string {
  try {
    return readFileSync(`/sys/class/net/${dev}/address`, 'utf8').trim().toLowerCase();
  } catch {
    throw new RuntimeError(`cannot read the MAC of ${dev}`);
  }
}

/** Open handles on every pinned map of the state. */
export class PinnedState {
  readonly pin: string;
  /** outer maps of the open-addressed tables (slot 0 -> the current inner array) */
  readonly vips: BpfMap<number, number>;
  readonly servers: BpfMap<number, number>;
  readonly peers: BpfMap<number, number>;
  readonly txPorts: BpfMap<number, number>;
  readonly config: BpfMap<number, ReturnType<typeof Config.decode>>;
  readonly stats: PerCpuMap<number, CounterT>;
  readonly serverStats: PerCpuMap<number, CounterT>;

  private constructor(pin: string) {
    this.pin = pin;
    const p = (n: string) => path.join(pin, n);
    const opened: { close(): void }[] = [];
    const track = <T extends { close(): void }>(m: T): T => (opened.push(m), m);
    try {
      this.vips = track(openPinnedMap(p('qs_vips'), U32, U32));
      this.servers = track(openPinnedMap(p('qs_servers'), U32, U32));
      this.peers = track(openPinnedMap(p('qs_peers'), U32, U32));
      this.txPorts = track(openPinnedMap(p('qs_tx_ports'), U32, U32));
      this.config = track(openPinnedMap(p('qs_config'), U32, Config));
      this.stats = track(openPinnedPerCpuMap(p('qs_stats'), U32, Counter));
      this.serverStats = track(openPinnedPerCpuMap(p('qs_server_stats'), U32, Counter));
    } catch (e) {
      opened.forEach((m) => m.close());
      throw e;
    }
  }

  /** True when every map is pinned under `pin`; partial state is an error worth reporting. */
  static exists(pin: string): boolean {
    const present = MAP_NAMES.filter((n) => existsSync(path.join(pin, n)));
    if (present.length === 0) return false;
    if (fsTypeOf(path.resolve(pin)) !== 'bpf') throw new RuntimeError(`${pin} is not on a bpffs: no pinned state can be there (mount -t bpf bpf <dir>, or another --pin-path)`);
    if (present.length < MAP_NAMES.length)
      throw new RuntimeError(`incomplete state under ${pin} (missing ${MAP_NAMES.filter((n) => !present.includes(n)).join(', ')}): remove it with 'quicsteer detach' or by hand`);
    return true;
  }

  /** The pinned state, or null when there is none. */
  static open(pin: string): PinnedState | null {
    return PinnedState.exists(pin) ? new PinnedState(pin) : null;
  }

  /** The pinned state, creating (and pinning) empty maps first when there is none. */
  static openOrCreate(pin: string): PinnedState {
    if (!PinnedState.exists(pin)) ObjectSpec.open(BPF_OBJECT, { pinRootPath: pin }).load().close();
    return new PinnedState(pin);
  }

  localId(): string | null {
    const c = this.config.lookup(0);
    return c && c.local_id.len > 0 ? c.local_id.id.subarray(0, c.local_id.len).toString('hex') : null;
  }

  setLocalId(id: string | null): void {
    this.config.update(0, { local_id: id === null ? { len: 0, id: Buffer.alloc(0) } : sidKey(Buffer.from(id, 'hex')) });
  }

  readVips(): VipView[] {
    return readTable(this.vips, VIP_TABLE)
      .map(([key, value]) => ({
        address: endpointString(key.family, key.addr, key.port),
        ip: ipString(key.family, key.addr),
        port: key.port,
        key,
        value,
        specs: vipToSpecs(value),
      }))
      .sort((a, b) => a.key.family - b.key.family || Buffer.compare(a.key.addr, b.key.addr) || a.port - b.port);
  }

  writeVips(vips: { key: VipKeyT; value: VipT }[]): void {
    writeTable(this.vips, VIP_TABLE, vips.map((v) => [v.key, v.value]));
  }

  readServers(): ServerView[] {
    return readTable(this.servers, SERVER_TABLE)
      .map(([key, s]) => ({
        id: key.id.subarray(0, key.len).toString('hex'),
        mac: macString(s.mac),
        state: STATE_NAMES[s.state] ?? 'down',
        ifindex: s.ifindex,
        dev: s.ifindex ? ifname(s.ifindex) : null,
        srcMac: macString(s.src_mac),
        slot: s.slot,
      }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Replaces the server table with `servers`, keeping the counter slot of every ID already present,
   * zeroing the counters of new ones; the peer set (every server's MAC) and the egress ports follow.
   */
  writeServers(servers: ServerInput[]): void {
    // the counter slot of each ID in the table now (read raw: the views' names are not needed here)
    const before = new Map(readTable(this.servers, SERVER_TABLE).map(([key, s]) => [key.id.subarray(0, key.len).toString('hex'), s]));
    const used = new Set(servers.flatMap((s) => (before.has(s.id) ? [before.get(s.id)!.slot] : [])));
    let next = 0;
    const fresh: number[] = [];
    const slotOf = (id: string): number => {
      const old = before.get(id);
      if (old) return old.slot;
      while (used.has(next)) next++;
      if (next >= MAX_SERVERS) throw new RuntimeError(`no counter slot left (${MAX_SERVERS} servers)`);
      used.add(next);
      fresh.push(next);
      return next;
    };
    const ports = new Set(servers.filter((s) => s.ifindex !== 0).map((s) => s.ifindex));
    const srcMacs = new Map([...ports].map((i) => [i, macBytes(devMac(ifname(i) ?? String(i)))]));
    const entries = servers.map(
      (s) => [sidKey(Buffer.from(s.id, 'hex')), serverValue({ mac: macBytes(s.mac), src_mac: srcMacs.get(s.ifindex), state: STATE_VALUES[s.state], ifindex: s.ifindex, slot: slotOf(s.id) })] as [ServerIdT, ReturnType<typeof serverValue>],
    );
    // new IDs start from zero: their slots are cleared (in one call) before the table names them
    const zero = { packets: 0n, bytes: 0n };
    this.serverStats.updateBatch(fresh.map((slot) => [slot, zero]));
    // egress ports first (no NO_EGRESS window), stale ones after the table no longer names them
    for (const i of ports) this.txPorts.update(i, i);
    writeTable(this.servers, SERVER_TABLE, entries);
    writeTable(this.peers, PEER_TABLE, [...new Set(servers.map((s) => s.mac))].map((m) => [macKey(macBytes(m)), true]));
    for (const i of [...this.txPorts.keys()]) if (!ports.has(i)) this.txPorts.delete(i);
  }

  readLinks(): LinkView[] {
    return readdirSync(this.pin)
      .filter((f) => f.startsWith(LINK_PREFIX))
      .map((f) => readLink(path.join(this.pin, f)))
      .sort((a, b) => a.ifindex - b.ifindex);
  }

  snapshot(): Snapshot {
    return { localId: this.localId(), vips: this.readVips(), servers: this.readServers(), links: this.readLinks() };
  }

  /** Per-reason packets/bytes and per-server steered packets/bytes, summed over CPUs. */
  counters(): { reasons: Record<string, CounterT>; servers: Record<string, CounterT> } {
    const sum = (cs: CounterT[]) => cs.reduce((a, c) => ({ packets: a.packets + c.packets, bytes: a.bytes + c.bytes }), { packets: 0n, bytes: 0n });
    const reasons = Object.fromEntries(Reasons.map((r, i) => [r.toLowerCase(), sum(this.stats.lookup(i)!)]));
    const servers = Object.fromEntries(this.readServers().map((s) => [s.id, sum(this.serverStats.lookup(s.slot)!)]));
    return { reasons, servers };
  }

  close(): void {
    for (const m of [this.vips, this.servers, this.peers, this.txPorts, this.config, this.stats, this.serverStats]) m.close();
  }
}

export function linkPinPath(pin: string, ifindex: number): string {
  return path.join(pin, `${LINK_PREFIX}${ifindex}`);
}

/** What a pinned link is attached to, and how. */
export function readLink(pinPath: string): LinkView {
  const l = Link.openPinned(pinPath);
  try {
    const info = l.info();
    const ifindex = info.ifindex ?? 0;
    let mode: LinkView['mode'] = 'unknown';
    if (ifindex) {
      try {
        const q = native().xdpQuery(ifindex);
        mode = q.drvProgId === info.progId ? 'native' : q.skbProgId === info.progId ? 'generic' : 'unknown';
      } catch {
        // interface gone: the link is defunct
      }
    }
    return { ifindex, ifname: ifindex ? ifname(ifindex) : null, mode, progId: info.progId, linkId: info.id, pin: pinPath };
  } finally {
    l.close();
  }
}

/** Removes every object quicsteer pinned under `pin`, and the directory when nothing else is in it. */
export function removeState(pin: string): void {
  if (!existsSync(pin)) return;
  for (const f of readdirSync(pin)) if (f.startsWith(LINK_PREFIX) || (MAP_NAMES as readonly string[]).includes(f)) unlinkSync(path.join(pin, f));
  if (readdirSync(pin).length > 0) return;
  try {
    rmdirSync(pin);
  } catch (e) {
    // the pin path may itself be a bpffs mount point: it stays, empty
    if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
  }
}
