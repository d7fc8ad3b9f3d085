// Live frames through a veth into the XDP program, each followed to where it went by its sequence number.
//
// StreamLab: a real server's namespace (`rs`: quicsteer on eth0, its pins on a private bpffs) wired by
// one veth to an outside one (`out`: the director's side). The outside sends QUIC short-header
// datagrams to the VIP at the server's MAC, as an IPVS-DR director would; the server passes up what
// it owns and steers the rest back out of eth0 (XDP_TX) to the owner's MAC. The peers are MACs on
// that wire, not namespaces: a capture on the outside end reads the MAC each steered frame went to,
// a capture on eth0 (after XDP) what was passed up. startStream() streams while something changes
// the kernel's state (a CLI, an agent: the stream does not care who) and stop() says, frame by frame:
// at its owner, misrouted (passed up or steered, but not to its owner), or lost (seen nowhere).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Netns, sh } from './netns.js';
import { NapiPorts } from '../../src/lab/napi.js';
import { claimChild } from '../../src/lab/owner.js';
import { pcapFrames } from '../../src/lab/pcap.js';
import { TempBpffs } from './bpffs.js';
import { tempDir } from './tmp.js';
import { cli, type CliResult } from './cli.js';
import { ROOT } from './paths.js';

const PEER = path.join(ROOT, 'build/dist/test/helpers/udp-peer.js');

/** A server ID that owns streamed CIDs, and where its frames must arrive. */
export interface StreamOwner {
  id: string;
  /** 'local': passed up on the real server; else the MAC steered frames must carry */
  at: 'local' | string;
}

export class StreamLab {
  readonly out = new Netns('qs-sout');
  readonly rs = new Netns('qs-srs');
  /** the real server's public interface, and its peer end in `out` */
  readonly ifname = 'eth0';
  readonly wire = 'wire';
  readonly vip = '198.51.100.10';
  readonly port = 4433;
  readonly client = '192.0.2.100';
  readonly cid = 'quic-lb:sid=2,nonce=6';
  readonly localId = '0001';
  /** the streamed peers: locally administered MACs that exist only as destinations on the wire */
  readonly peers = [
    { id: '0002', mac: '02:5e:00:00:00:02' },
    { id: '0003', mac: '02:5e:00:00:00:03' },
    { id: '0004', mac: '02:5e:00:00:00:04' },
  ];
  readonly rsMac: string;
  readonly fs = new TempBpffs();
  readonly dir = tempDir('qs-stream');
  readonly #napi: NapiPorts;

  constructor() {
    this.out.ip('link', 'add', this.wire, 'type', 'veth', 'peer', 'name', this.ifname, 'netns', this.rs.name);
    this.out.ip('addr', 'add', `${this.client}/24`, 'dev', this.wire);
    this.out.ip('link', 'set', this.wire, 'up');
    this.rs.ip('addr', 'add', '192.0.2.1/24', 'dev', this.ifname);
    this.rs.ip('addr', 'add', `${this.vip}/32`, 'dev', 'lo');
    this.rs.ip('link', 'set', this.ifname, 'up');
    this.rsMac = (JSON.parse(this.rs.ip('-j', 'link', 'show', this.ifname)) as { address: string }[])[0]!.address;
    // veth leaves UDP checksums to offload, which XDP_TX drops (see steer-netns.test.ts)
    sh('ip', 'netns', 'exec', this.out.name, 'ethtool', '-K', this.wire, 'tx', 'off');
    this.out.ip('route', 'add', `${this.vip}/32`, 'dev', this.wire);
    this.out.ip('neigh', 'replace', this.vip, 'lladdr', this.rsMac, 'dev', this.wire, 'nud', 'permanent');
    // frames the server sends back with XDP_TX reach the outside end only when it runs NAPI
    this.#napi = new NapiPorts(this.out, [this.wire]);
  }

  /** The streamed owners: this server's own ID, then the peers. */
  owners(): StreamOwner[] {
    return [{ id: this.localId, at: 'local' }, ...this.peers.map((p) => ({ id: p.id, at: p.mac }))];
  }

  /** An apply file (quicsteer apply -f, the agent's -f) under which every streamed frame reaches its owner. */
  config(): { localId: string; interfaces: { name: string; mode: string }[]; vips: { address: string; cid: string | string[] }[]; servers: { id: string; mac?: string; dev?: string; state?: string }[] } {
    return {
      localId: this.localId,
      interfaces: [{ name: this.ifname, mode: 'native' }],
      vips: [{ address: `${this.vip}:${this.port}`, cid: this.cid }],
      servers: [{ id: this.localId, mac: this.rsMac }, ...this.peers.map((p) => ({ id: p.id, mac: p.mac }))],
    };
  }

  /** quicsteer in the real server's namespace, on the lab's pin path (`shim`: another installation's). */
  q(args: string[], o: { shim?: string } = {}): CliResult {
    return cli(['--pin-path', this.fs.dir, ...args], { ns: this.rs.name, ...o });
  }

  /** Drops both ends of the veth have counted (rx + tx, `ip -s link`). */
  linkDrops(): number {
    const drops = (ns: Netns, dev: string) => {
      const [l] = JSON.parse(ns.ip('-s', '-j', 'link', 'show', 'dev', dev)) as { stats64: { rx: { dropped: number }; tx: { dropped: number } } }[];
      return l!.stats64.rx.dropped + l!.stats64.tx.dropped;
    };
    return drops(this.rs, this.ifname) + drops(this.out, this.wire);
  }

  destroy(): void {
    this.#napi.close();
    this.q(['reset']);
    this.fs.destroy();
    for (const ns of [this.out, this.rs]) ns.destroy();
  }
}

/** tcpdump of the UDP datagrams to the VIP that arrive on one interface, once it is listening. */
class Capture {
  readonly #p: ChildProcess;
  readonly ready: Promise<void>;
  #err = '';
  #closed = false;

  constructor(ns: Netns, ifname: string, readonly file: string, lab: StreamLab) {
    // -Q in: only what arrives; --immediate-mode: nothing waits in a ring block when it is stopped
    this.#p = spawn(
      'ip',
      ['netns', 'exec', ns.name, 'tcpdump', '-Z', 'root', '--immediate-mode', '-n', '-p', '-Q', 'in', '-B', '8192', '-s', '128', '-i', ifname, '-w', file, 'udp', 'and', 'dst', 'host', lab.vip, 'and', 'dst', 'port', String(lab.port)],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    claimChild(this.#p);
    this.#p.once('close', () => (this.#closed = true));
    this.ready = new Promise((resolve, reject) => {
      this.#p.stderr!.on('data', (d: Buffer) => {
        this.#err += d.toString();
        if (this.#err.includes('listening on')) resolve();
      });
      this.#p.once('close', (code) => reject(new Error(`tcpdump on ${ifname} exited ${code}: ${this.#err.trim()}`)));
    });
  }

  /** Stops it; how many frames the kernel dropped before tcpdump read them (which would make a count wrong). */
  async stop(): Promise<{ dropped: number }> {
    // 'close', not 'exit': tcpdump's last words on stderr may still be in the pipe at exit
    if (!this.#closed) {
      const closed = new Promise((r) => this.#p.once('close', r));
      if (this.#p.exitCode === null) this.#p.kill('SIGINT');
      await closed;
    }
    const m = /(\d+) packets? dropped by kernel/.exec(this.#err);
    if (!m) throw new Error(`tcpdump said nothing about drops: ${this.#err.trim()}`);
    return { dropped: Number(m[1]) };
  }
}

export interface StreamCounts {
  sent: number;
  /** arrived where its owner is, exactly there */
  owner: number;
  /** arrived somewhere else (passed up when a peer owns it, steered to another MAC, or to two places) */
  misrouted: number;
  /** arrived nowhere */
  lost: number;
}

export interface StreamResult extends StreamCounts {
  /** frames that arrived at their owner more than once (counted once in owner) */
  duplicated: number;
  byOwner: Record<string, StreamCounts>;
  /** where misrouted frames arrived: 'local', or the destination MAC they were steered to */
  misroutedTo: Record<string, number>;
  /** runs of lost sequence numbers, [first, last], the first 20 */
  lostRuns: [number, number][];
  /** frames the captures' kernel side dropped: the counts above are only meaningful at 0 */
  captureDropped: number;
  /** drops both ends of the veth counted meanwhile (rx + tx: a full ring, say; not XDP_DROP): where lost frames went */
  linkDrops: number;
  /** how long the sender ran, and the rate it kept */
  seconds: number;
  rate: number;
}

export interface StreamOptions {
  /** datagrams a second (default 2000) */
  rate?: number;
  /** distinct CIDs (connections) per owner, sent in turn (default 8) */
  cidsPerOwner?: number;
  /** the sender gives up after this long (default 600 s) */
  maxSeconds?: number;
}

export interface Stream {
  /** frame i's CID is owned by owners[i mod owners.length] */
  readonly owners: StreamOwner[];
  /** Stops the sender, waits `drainMs` (default 300) for the last frames, stops the captures, counts. */
  stop(o?: { drainMs?: number }): Promise<StreamResult>;
}

let streams = 0;

/**
 * Streams QUIC short-header datagrams to the lab's VIP, `rate` a second, frame i with a CID owned by
 * owners[i mod owners] and i itself in its payload, until stop(). The captures are listening before
 * the first frame is sent.
 */
export async function startStream(lab: StreamLab, o: StreamOptions = {}): Promise<Stream> {
  const rate = o.rate ?? 2000;
  const perOwner = o.cidsPerOwner ?? 8;
  const owners = lab.owners();
  const name = `s${++streams}`;
  // a stream's own marker: frames of another stream (or anything else) are not counted
  const magic = randomBytes(8);
  const templates: Buffer[] = [];
  for (let k = 0; k < perOwner; k++)
    for (const w of owners) {
      // QUIC-LB plaintext, config 0: first octet = length - 1, server ID, nonce (the lab's cid spec)
      const cid = Buffer.concat([Buffer.from([8]), Buffer.from(w.id, 'hex'), randomBytes(6)]);
      templates.push(Buffer.concat([Buffer.from([0x41]), cid, magic]));
    }
  const tplFile = path.join(lab.dir, `${name}.hex`);
  writeFileSync(tplFile, templates.map((t) => t.toString('hex')).join('\n'));

  const caps = {
    local: new Capture(lab.rs, lab.ifname, path.join(lab.dir, `${name}-local.pcap`), lab),
    wire: new Capture(lab.out, lab.wire, path.join(lab.dir, `${name}-wire.pcap`), lab),
  };
  try {
    await Promise.all([caps.local.ready, caps.wire.ready]);
  } catch (e) {
    await Promise.allSettled([caps.local.stop(), caps.wire.stop()]);
    throw e;
  }
  const dropsBefore = lab.linkDrops();
  const sender = spawn('ip', ['netns', 'exec', lab.out.name, process.execPath, PEER, 'paced', lab.vip, String(lab.port), tplFile, String(rate), String(o.maxSeconds ?? 600)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  claimChild(sender);
  let outText = '';
  sender.stdout!.on('data', (d: Buffer) => (outText += d.toString()));
  type Sent = { sent: number; failed: number[]; ms: number };
  // 'close', not 'exit': the sender's line may still be in the pipe when it exits
  const sent = new Promise<Sent>((resolve, reject) =>
    sender.on('close', (c) => {
      try {
        if (c !== 0) throw new Error(`exited ${c}`);
        resolve(JSON.parse(outText) as Sent);
      } catch (e) {
        reject(new Error(`sender: ${(e as Error).message}; it printed '${outText.trim()}'`));
      }
    }),
  );

  const stop = async (so: { drainMs?: number } = {}): Promise<StreamResult> => {
    sender.stdin!.end();
    try {
      const s = await sent;
      await new Promise((r) => setTimeout(r, so.drainMs ?? 300));
      const drops = await Promise.all([caps.local.stop(), caps.wire.stop()]);
      const linkDrops = lab.linkDrops() - dropsBefore;
      return count(lab, owners, magic, s, [
        { at: 'local', frames: pcapFrames(caps.local.file) },
        { at: 'wire', frames: pcapFrames(caps.wire.file) },
      ], { seconds: s.ms / 1000, captureDropped: drops.reduce((n, d) => n + d.dropped, 0), linkDrops });
    } finally {
      // a sender that failed leaves no capture running
      await Promise.allSettled([caps.local.stop(), caps.wire.stop()]);
    }
  };
  return { owners, stop };
}

/** Where each sequence number arrived, against where its owner is. */
function count(
  lab: StreamLab,
  owners: StreamOwner[],
  magic: Buffer,
  s: { sent: number; failed: number[] },
  seen: { at: 'local' | 'wire'; frames: Buffer[] }[],
  m: { seconds: number; captureDropped: number; linkDrops: number },
): StreamResult {
  const right = new Uint16Array(s.sent);
  const wrong = new Uint16Array(s.sent);
  const misroutedTo: Record<string, number> = {};
  const notSent = new Set(s.failed);
  for (const { at, frames } of seen)
    for (const f of frames) {
      const i = f.indexOf(magic, 14);
      if (i < 0 || i + 12 > f.length) continue;
      const seq = f.readUInt32BE(i + 8);
      if (seq >= s.sent) continue;
      const mac = (o: number) => [...f.subarray(o, o + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
      // a frame steered out must leave with the server's own MAC as its source
      const place = at === 'local' ? 'local' : mac(6) === lab.rsMac ? mac(0) : `${mac(0)} from ${mac(6)}`;
      if (place === owners[seq % owners.length]!.at) right[seq]!++;
      else {
        wrong[seq]!++;
        misroutedTo[place] = (misroutedTo[place] ?? 0) + 1;
      }
    }
  const zero = (): StreamCounts => ({ sent: 0, owner: 0, misrouted: 0, lost: 0 });
  const total = zero();
  const byOwner: Record<string, StreamCounts> = Object.fromEntries(owners.map((w) => [w.id, zero()]));
  let duplicated = 0;
  const lostRuns: [number, number][] = [];
  for (let seq = 0; seq < s.sent; seq++) {
    if (notSent.has(seq)) continue;
    const c = byOwner[owners[seq % owners.length]!.id]!;
    const kind = wrong[seq]! > 0 ? 'misrouted' : right[seq]! > 0 ? 'owner' : 'lost';
    for (const x of [c, total]) {
      x.sent++;
      x[kind]++;
    }
    if (kind === 'owner' && right[seq]! > 1) duplicated++;
    if (kind === 'lost') {
      const last = lostRuns[lostRuns.length - 1];
      if (last && last[1] === seq - 1) last[1] = seq;
      else if (lostRuns.length < 20) lostRuns.push([seq, seq]);
    }
  }
  return { ...total, duplicated, byOwner, misroutedTo, lostRuns, captureDropped: m.captureDropped, linkDrops: m.linkDrops, seconds: m.seconds, rate: m.seconds > 0 ? Math.round(s.sent / m.seconds) : 0 };
}

/** One line for a test log: the totals, and what went wrong where. */
export function describe(r: StreamResult): string {
  const extra = [
    r.duplicated ? `${r.duplicated} duplicated` : '',
    Object.keys(r.misroutedTo).length ? `misrouted to ${JSON.stringify(r.misroutedTo)}` : '',
    r.lostRuns.length ? `lost seqs ${r.lostRuns.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}` : '',
    r.captureDropped ? `${r.captureDropped} dropped by the captures` : '',
    r.linkDrops ? `${r.linkDrops} drops counted by the veth` : '',
  ].filter(Boolean);
  return `${r.sent} frames sent in ${r.seconds.toFixed(1)} s (${r.rate}/s): ${r.owner} at their owner, ${r.misrouted} misrouted, ${r.lost} lost${extra.length ? `; ${extra.join('; ')}` : ''}`;
}
