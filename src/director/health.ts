// Health checks of real servers with a real QUIC exchange: a datagram of a reserved version, which a
// live QUIC server answers with Version Negotiation (RFC 9000 6.1); unhealthy -> IPVS weight 0.
import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { endpoint, ipvsadm, normIp } from './ipvs.js';
import { withDirectorLockPatient } from '../control/lock.js';
import type { DirectorFileT, ListenerT } from './config.js';
import type { HealthT } from '../control/schemas.js';

// A reserved version (0x?a?a?a?a, RFC 9000 15): never negotiated, so a server must answer VN.
export const PROBE_VERSION = 0x1a2a3a4a;
// Servers answer VN only to datagrams that could start a connection (RFC 9000 14.1).
const PROBE_SIZE = 1200;

export interface Probe {
  packet: Buffer;
  dcid: Buffer;
  scid: Buffer;
}

export function makeProbe(): Probe {
  const dcid = randomBytes(8);
  const scid = randomBytes(8);
  const head = Buffer.concat([Buffer.from([0xc0 | (randomBytes(1)[0]! & 0x0f)]), Buffer.alloc(4), Buffer.from([dcid.length]), dcid, Buffer.from([scid.length]), scid]);
  head.writeUInt32BE(PROBE_VERSION, 1);
  return { packet: Buffer.concat([head, Buffer.alloc(PROBE_SIZE - head.length)]), dcid, scid };
}

/** A Version Negotiation answering this probe: version 0, our SCID as its DCID and our DCID as its SCID. */
export function answersProbe(reply: Buffer, p: Probe): boolean {
  if (reply.length < 7 || !(reply[0]! & 0x80) || reply.readUInt32BE(1) !== 0) return false;
  const dl = reply[5]!;
  const dcid = reply.subarray(6, 6 + dl);
  const sl = reply[6 + dl];
  if (sl === undefined) return false;
  const scid = reply.subarray(7 + dl, 7 + dl + sl);
  return dcid.equals(p.scid) && scid.equals(p.dcid) && reply.length >= 7 + dl + sl + 4;
}

/** The versions a Version Negotiation lists (after its connection IDs; answersProbe checked the layout). */
function vnVersions(reply: Buffer): number[] {
  const at = 7 + reply[5]! + reply[6 + reply[5]!]!;
  const versions: number[] = [];
  for (let i = at; i + 4 <= reply.length; i += 4) versions.push(reply.readUInt32BE(i));
  return versions;
}

/** What one probe found: alive with the round trip and the server's versions, or dead and why. */
export interface ProbeDetail {
  alive: boolean;
  /** alive: milliseconds from sending the probe to the Version Negotiation, to 0.1 ms */
  ms?: number;
  /** alive: the versions the server's Version Negotiation lists */
  versions?: number[];
  /** dead: why, as a phrase (no Version Negotiation within 2 s, ICMP port unreachable, ...) */
  reason?: string;
}

// Socket errors a connected UDP socket reports, from the ICMP errors the kernel received for it.
const ICMP: Record<string, string> = {
  ECONNREFUSED: 'ICMP port unreachable',
  EHOSTUNREACH: 'ICMP host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * One probe: alive when a matching Version Negotiation arrives within timeoutMs. The socket is
 * connected, so datagrams from any other address are dropped and an ICMP error (port unreachable)
 * ends the probe at once, as dead. Dead at once, too, when `signal` aborts.
 */
export function probeDetail(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<ProbeDetail> {
  return new Promise((resolve) => {
    const p = makeProbe();
    const s = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    let done = false;
    let others = 0;
    let sent = 0;
    const finish = (d: ProbeDetail) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.close();
      resolve(d);
    };
    const dead = (reason: string) => finish({ alive: false, reason });
    const timer = setTimeout(() => {
      const ignored = others ? ` (${others} other datagram${others > 1 ? 's' : ''} ignored: not a Version Negotiation for this probe)` : '';
      dead(`no Version Negotiation within ${timeoutMs / 1000} s${ignored}`);
    }, timeoutMs);
    signal?.addEventListener('abort', () => dead('aborted'), { once: true });
    s.on('message', (msg) => {
      if (!answersProbe(msg, p)) return void others++;
      finish({ alive: true, ms: Math.round((performance.now() - sent) * 10) / 10, versions: vnVersions(msg) });
    });
    s.on('error', (e: NodeJS.ErrnoException) => dead(ICMP[e.code ?? ''] ?? `socket error ${e.code ?? e.message}`));
    s.connect(port, address, () => {
      sent = performance.now();
      s.send(p.packet, (err) => err && dead(`send failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
  });
}

/** One probe: true when a matching Version Negotiation arrives within timeoutMs (false at once when `signal` aborts). */
export async function probe(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return (await probeDetail(address, port, timeoutMs, signal)).alive;
}

export interface Transition {
  listener: string;
  realServer: string;
  serverId?: string;
  from: 'up' | 'down';
  to: 'up' | 'down';
  at: string;
}

export interface HealthOptions {
  /** called for each transition, after IPVS has the new weight */
  onTransition(t: Transition): void | Promise<void>;
  /** program run on each transition with: up|down <vip:port> <rs:port> [server-id] */
  notify?: string;
  signal: AbortSignal;
  /** the director state file whose lock `director apply` and `remove` hold: each weight change takes it too */
  state?: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

export type Health = 'up' | 'down';

/** What one target's probes add up to: `unhealthyThreshold` failures in a row take it down, `healthyThreshold` answers bring it up. */
export class HealthTracker {
  fails = 0;
  oks = 0;
  constructor(
    public state: Health,
    readonly h: HealthT,
  ) {}

  /** Counts one probe; returns the new state when this probe changed it, else null. */
  observe(alive: boolean): Health | null {
    if (alive) [this.oks, this.fails] = [this.oks + 1, 0];
    else [this.fails, this.oks] = [this.fails + 1, 0];
    const next: Health =
      this.state === 'up' && this.fails >= this.h.unhealthyThreshold ? 'down' : this.state === 'down' && this.oks >= this.h.healthyThreshold ? 'up' : this.state;
    if (next === this.state) return null;
    this.state = next;
    return next;
  }
}

/**
 * Probes one address every `interval` seconds (each probe waits up to `timeout`) until the signal
 * aborts, and awaits `onTransition` on each change of the tracker's state before probing again.
 */
export async function probeLoop(target: { address: string; port: number }, tracker: HealthTracker, signal: AbortSignal, onTransition: (to: Health) => void | Promise<void>): Promise<void> {
  const h = tracker.h;
  while (!signal.aborted) {
    const started = Date.now();
    const alive = await probe(target.address, target.port, h.timeout * 1000, signal);
    if (signal.aborted) break;
    const to = tracker.observe(alive);
    if (to) await onTransition(to);
    await sleep(Math.max(0, h.interval * 1000 - (Date.now() - started)), signal);
  }
}

/**
 * Probes every real server of every listener each interval; after `unhealthyThreshold` failed probes
 * in a row its IPVS weight becomes 0 (existing flows finish, new ones go elsewhere), after
 * `healthyThreshold` answered ones its configured weight comes back. Runs until the signal aborts.
 */
export async function runHealth(file: DirectorFileT, o: HealthOptions): Promise<void> {
  const loops = file.listeners.flatMap((l) =>
    l.realServers.map((r) => {
      const { listener: vip, realServer: rs } = names(l, r);
      const tracker = new HealthTracker('up', l.health);
      return probeLoop({ address: normIp(r.address), port: r.port }, tracker, o.signal, async (to) => {
        // one writer of the IPVS table at a time: an apply or remove running now finishes first
        const set = () => ipvsadm(['-e', '-u', vip, '-r', rs, '-g', '-w', String(to === 'down' ? 0 : r.weight)]);
        await (o.state === undefined ? set() : withDirectorLockPatient(o.state, set, o.signal));
        const t: Transition = { listener: vip, realServer: rs, serverId: r.serverId, from: to === 'down' ? 'up' : 'down', to, at: new Date().toISOString() };
        await o.onTransition(t);
        if (o.notify) await notify(o.notify, t);
      });
    }),
  );
  await Promise.all(loops);
}

/** How transitions and --notify name a listener and one of its real servers: vip:port and rs:port, IPv6 as [addr]:port. */
export function names(l: ListenerT, r: ListenerT['realServers'][number]): { listener: string; realServer: string } {
  return { listener: endpoint(normIp(l.vip.ip), l.vip.port), realServer: endpoint(normIp(r.address), r.port) };
}

/** What a --notify program is run with: up|down <vip:port> <rs:port> [server-id] (also keepalived's notify_up/notify_down). */
export function notifyArgs(t: Pick<Transition, 'to' | 'listener' | 'realServer' | 'serverId'>): string[] {
  return [t.to, t.listener, t.realServer, ...(t.serverId ? [t.serverId] : [])];
}

function notify(program: string, t: Transition): Promise<void> {
  const args = notifyArgs(t);
  return new Promise((resolve) => {
    execFile(program, args, (err, _out, stderr) => {
      if (err) process.stderr.write(`quicsteer: notify ${program} ${args.join(' ')} failed: ${stderr.trim() || err.message}\n`);
      resolve();
    });
  });
}
