// The migration lab: a real QUIC client (ngtcp2 gtlsclient, or another stack's: src/lab/peer.ts) behind a NAT, a director, and three real
// servers running gtlsserver (CIDs carrying their server ID) and quicsteer on one L2 segment; all in
// namespaces it creates and removes. `quicsteer demo`, the host end-to-end test and the VM test use it.
//
//   client 203.0.113.2 ── NAT (SNAT to 192.0.2.200) ──┬── rs1 192.0.2.1  (VIP on lo, quicsteer on eth0)
//                                                    ├── rs2 192.0.2.2      "
//                           director 192.0.2.254 ────┴── rs3 192.0.2.3      "        (bridge br0)
//
// The director is either real IPVS-DR (`ipvs`: scheduler sh with sh-port, set up by `quicsteer director
// apply`) or, on kernels without IPVS, simulated (`neigh`): the NAT sends the VIP straight to the MAC
// its static neighbour entry names, and the event switches that entry to another real server.
// Every real server is configured only through quicsteer commands (realserver setup, then apply -f with
// its interface, VIP and peers), run as separate processes inside its namespace with a private bpffs pin path.
// With `encryptedCids` the servers' CIDs are encrypted QUIC-LB ones: one random key, in a 0600 file
// that the CID shim and quicsteer's VIP (key-file=) both read. With `stacks` the client and the
// servers are another QUIC stack's (src/lab/peer.ts: quiche, quic-go), each server issuing plaintext
// QUIC-LB CIDs of its own (20 bytes).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TempBpffs } from './bpffs.js';
import { NapiPorts } from './napi.js';
import { Netns, sh } from './netns.js';
import { claimChild } from './owner.js';
import { serverIssuedCids, udpDatagrams } from './pcap.js';
import { cidPlan, clientCommand, Ngtcp2Server, PeerServer, type CidPlan, type LabServer, type Stack } from './peer.js';
import { rootOnlyScripts, tempDir } from './tmp.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const QUICSTEER = path.join(ROOT, 'scripts/quicsteer.mjs');
const CID_SHIM = path.join(ROOT, 'build/lib/libcidshim.so');

export const VIP = '198.51.100.10';
export const PORT = 4433;
export const CLIENT_IP = '203.0.113.2';
export const NAT_PUBLIC = '192.0.2.200';
const DIRECTOR_IP = '192.0.2.254';
const DIRECTOR2_IP = '192.0.2.253';
/** addresses on the first director's loopback whose IPVS services copy the listener's table before and after a pool change */
const SHADOW = { old: '198.51.100.11', new: '198.51.100.12' } as const;
/** the VRRP instance's virtual router id and the two directors' priorities (the first one is master) */
const VRRP_ID = '51';
/** gtlsserver's CIDs are 18 bytes: first octet 0x11, a 2-byte server ID, a 15-byte nonce */
export const CID_LEN = cidPlan('ngtcp2').len;
export const CID_SPEC = cidPlan('ngtcp2').spec;

export const SERVERS = [
  { name: 'rs1', ip: '192.0.2.1', sid: '0001' },
  { name: 'rs2', ip: '192.0.2.2', sid: '0002' },
  { name: 'rs3', ip: '192.0.2.3', sid: '0003' },
] as const;
export type RsName = (typeof SERVERS)[number]['name'];

export const EVENTS = {
  'nat-rebinding': 'the NAT gives the client a new public port mid-upload (SNAT swapped, conntrack entry deleted)',
  migration: 'the client moves to a new local port on purpose (gtlsclient --change-local-addr: active migration)',
  'client-rebinding': "the client's own host moves it to a new port without telling its QUIC stack (its port rewritten in the client's namespace)",
} as const;
/**
 * On the simulated director only, and for any stack: nothing about the client changes, the
 * director alone sends its flow elsewhere (what a director failover, a table change or ECMP does;
 * the VM tier runs those for real: DIRECTOR_EVENTS).
 */
export const MOVE_EVENTS = {
  'director-move': "the director sends the client's unchanged address to another real server (the NAT's neighbour entry switched)",
} as const;
export type LabEvent = keyof typeof EVENTS;
export type MoveEvent = keyof typeof MOVE_EVENTS;

/**
 * Events on the director side: the client's address stays (except where a NAT rebinding is named),
 * and what changes is the director or its table. Each needs its director variant (LabOptions.director).
 */
export const DIRECTOR_EVENTS = {
  'failover-stop': "the master director's keepalived stops; the backup takes the VIP (VRRP, gratuitous ARP) and, with no IPVS connection sync, schedules the flow by its own table",
  'failover-link': "the master director's link goes down; the backup takes the VIP after missing its adverts, with no IPVS connection sync",
  'pool-add': 'a real server joins the listener (director apply) and the NAT gives the client a new port that the old table sent to the owner and the new one sends to the new server',
  'pool-drain': "the owner's weight goes to 0 (director apply) and the NAT gives the client a new port that the old table sent to the owner",
  'pool-remove': 'the owner leaves the listener (director apply); with expire_nodest_conn=1 IPVS schedules its flow again',
  'ecmp-fail': "the router withdraws its route through the director carrying the flow; the other director (same mh table) takes it",
  'ecmp-fail-differs': "as ecmp-fail, but the other director's own health check has the owner at weight 0",
} as const;
export type DirectorEvent = keyof typeof DIRECTOR_EVENTS;
/** the director variant each director event runs on */
export const EVENT_DIRECTOR: Record<DirectorEvent, 'vrrp' | 'ipvs' | 'ecmp'> = {
  'failover-stop': 'vrrp',
  'failover-link': 'vrrp',
  'pool-add': 'ipvs',
  'pool-drain': 'ipvs',
  'pool-remove': 'ipvs',
  'ecmp-fail': 'ecmp',
  'ecmp-fail-differs': 'ecmp',
};
const isDirectorEvent = (e: LabEvent | MoveEvent | DirectorEvent): e is DirectorEvent => e in DIRECTOR_EVENTS;

export type Scheduler = { scheduler: 'wrr' | 'wlc' | 'sh' | 'mh'; flags: ('sh-port' | 'sh-fallback' | 'mh-port' | 'mh-fallback')[] };

export interface LabOptions {
  /**
   * neigh: a simulated director (a static neighbour entry); ipvs: one IPVS-DR director; vrrp: two,
   * with keepalived (configured by `quicsteer director keepalived`) holding the VIP by VRRP and no
   * connection sync; ecmp: two active ones, the NAT routing the VIP over both (an L4-hashed multipath route)
   */
  director: 'neigh' | 'ipvs' | 'vrrp' | 'ecmp';
  /** the IPVS listener's scheduler (default sh with sh-port) */
  scheduler?: Scheduler;
  /** the listener's real servers at the start of each run (default all three) */
  pool?: RsName[];
  /** the client's idle timeout in seconds (default 5) */
  idleTimeoutS?: number;
  /** bytes the client uploads (POST) and downloads in the same request */
  uploadBytes: number;
  downloadBytes: number;
  /** the NAT's links shape to this rate both ways (tbf), so the transfer outlasts the event */
  rate: string;
  /** when the event happens, after the client starts */
  eventAfterMs: number;
  /** the client gives up after this long (its idle timeout is 5 s) */
  timeoutS: number;
  /** the servers issue encrypted QUIC-LB CIDs (4-pass Feistel: sid 2 + nonce 15); the key is in `cidKeyFile` */
  encryptedCids?: boolean;
  /** each run captures its QUIC packets' headers on the NAT's public link: RunResult.wireCids */
  captureCids?: boolean;
  /** the QUIC servers listen on every address (the VIP and their own, where peers' health probes reach them), not the VIP only */
  listenAny?: boolean;
  /** the client's and the servers' QUIC stacks (default ngtcp2 both; other stacks issue plaintext CIDs only) */
  stacks?: { client: Stack; server: Stack };
}

/** A tc rate (`20mbit`, `1gbit`, `500kbit`, `100bit`) in bits per second. */
export function rateBits(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/i.exec(rate);
  if (!m) throw new RangeError(`lab: rate '${rate}' is not <n>[k|m|g]bit`);
  return Number(m[1]) * { '': 1, k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
}

/**
 * Why options make runs that test nothing, or null. A client whose upload is done sends nothing until
 * the server's data reaches it: a NAT rebinding then strands both ends (seen in the VM tier: 2 MiB at
 * 20 Mbit/s was over before the event at 1 s, and the client idled out with no packet sent from its
 * new port). The upload must still be going at the event, with some room to spare (the host's 8 MiB
 * at 50 Mbit/s lasts 1.34 s for an event at 1 s).
 */
export function labOptionsProblem(o: LabOptions): string | null {
  const uploadMs = (o.uploadBytes * 8 * 1000) / rateBits(o.rate);
  if (uploadMs < o.eventAfterMs * 1.2)
    return `an upload of ${o.uploadBytes} bytes at ${o.rate} lasts ${Math.round(uploadMs)} ms, less than 1.2 x the event time (${o.eventAfterMs} ms): the event would find the client silent`;
  return null;
}

export interface RunResult {
  event: LabEvent | MoveEvent | DirectorEvent;
  steering: boolean;
  uploadBytes: number;
  downloadBytes: number;
  /** from the client's start to its exit */
  ms: number;
  downloadIdentical: boolean;
  /** the owner's log shows the request stream ending (fin) past the upload's size */
  uploadComplete: boolean;
  owner: RsName;
  /** where the director sent the client's public address before and after the event */
  directorBefore: RsName | undefined;
  directorAfter: RsName | undefined;
  /** the client's public addresses before and after the event */
  publicBefore: string;
  publicAfter: string;
  /** the client addresses the owner's server log shows, in order of first appearance */
  ownerSaw: string[];
  /** packets each real server steered to another during the run */
  steered: Record<RsName, number>;
  /** packets per reason each real server counted during the run (nonzero ones) */
  reasons: Record<RsName, Record<string, number>>;
  /** with captureCids: the distinct CIDs the servers issued, as seen between the NAT and the servers */
  wireCids?: Buffer[];
  /** director events on two directors: the one that had the flow before the event and the one after */
  directors?: { before: 'dir1' | 'dir2'; after: 'dir1' | 'dir2' };
  /** vrrp: from the event to the backup holding the VIP, and to the NAT's neighbour entry naming the backup */
  vipMoveMs?: { held: number; neighbour: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface DirectorPlan {
  p1: number;
  p2: number;
  act(): Promise<void>;
  result(): Pick<RunResult, 'directorBefore' | 'directorAfter' | 'directors' | 'vipMoveMs'>;
}

export class MigrationLab {
  readonly sw = new Netns('qs-msw');
  readonly cl = new Netns('qs-mcl');
  readonly nat = new Netns('qs-mnat');
  readonly director: Netns | undefined;
  /** vrrp and ecmp: the second director */
  readonly director2: Netns | undefined;
  /** vrrp: each director's keepalived, while it runs */
  readonly #keepalived: { dir1?: ChildProcess; dir2?: ChildProcess } = {};
  readonly rs = {} as Record<RsName, Netns>;
  readonly pins = {} as Record<RsName, TempBpffs>;
  readonly quic = {} as Record<RsName, LabServer>;
  /** the servers' CID layout */
  readonly cid: CidPlan;
  readonly stacks: { client: Stack; server: Stack };
  #uploadSha = '';
  readonly mac = {} as Record<RsName, string>;
  readonly tmp = tempDir('qs-lab');
  /** with encryptedCids: the file holding the servers' QUIC-LB key (32 hex digits, mode 0600) */
  readonly cidKeyFile: string | undefined;
  #napi: NapiPorts | undefined;
  #runs = 0;
  #downloadSha = '';

  constructor(readonly opts: LabOptions) {
    try {
      const problem = labOptionsProblem(opts);
      if (problem) throw new RangeError(`lab: ${problem}`);
      this.stacks = { ...(opts.stacks ?? { client: 'ngtcp2', server: 'ngtcp2' }) };
      this.cid = cidPlan(this.stacks.server);
      if (opts.encryptedCids && this.stacks.server !== 'ngtcp2') throw new RangeError(`lab: encrypted CIDs need the ngtcp2 servers (the CID shim); ${this.stacks.server}'s are plaintext`);
      this.useClient(this.stacks.client);
      this.director = opts.director === 'neigh' ? undefined : new Netns('qs-mdir');
      this.director2 = opts.director === 'vrrp' || opts.director === 'ecmp' ? new Netns('qs-mdir2') : undefined;
      if (opts.encryptedCids) {
        this.cidKeyFile = path.join(this.tmp, 'cid.key');
        writeFileSync(this.cidKeyFile, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
      }
      for (const s of SERVERS) this.rs[s.name] = new Netns(`qs-m${s.name}`);
      this.#build();
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  #build(): void {
    const o = this.opts;
    this.sw.ip('link', 'add', 'br0', 'type', 'bridge');
    this.sw.ip('link', 'set', 'br0', 'up');
    this.sw.plug(this.nat, 'sw-nat', 'n1', `${NAT_PUBLIC}/24`);
    for (const s of SERVERS) this.sw.plug(this.rs[s.name], `sw-${s.name}`, 'eth0', `${s.ip}/24`);
    // client <-> NAT
    this.cl.ip('link', 'add', 'cl0', 'type', 'veth', 'peer', 'name', 'n0', 'netns', this.nat.name);
    this.cl.ip('addr', 'add', `${CLIENT_IP}/24`, 'dev', 'cl0');
    this.cl.ip('link', 'set', 'cl0', 'up');
    this.cl.ip('route', 'add', 'default', 'via', '203.0.113.1');
    this.nat.ip('addr', 'add', '203.0.113.1/24', 'dev', 'n0');
    this.nat.ip('link', 'set', 'n0', 'up');
    this.#sysctl(this.nat, 'net.ipv4.ip_forward=1');
    this.#snat(`${NAT_PUBLIC}:20000-30000`);
    // veth leaves UDP checksums to "offload" and XDP_TX drops that promise; real NICs fill them in
    for (const [ns, dev] of [[this.cl, 'cl0'], [this.nat, 'n0'], [this.nat, 'n1']] as const) this.#in(ns, 'ethtool', '-K', dev, 'tx', 'off');
    // the last mile: both directions shaped, so the transfer spans the event
    for (const dev of ['n0', 'n1']) this.#in(this.nat, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', o.rate, 'burst', '64kb', 'latency', '50ms');
    for (const s of SERVERS) this.mac[s.name] = this.rs[s.name].mac('eth0');

    if (this.director) this.#buildDirectors();
    else this.nat.ip('route', 'add', `${VIP}/32`, 'dev', 'n1');

    // XDP_TX into a veth needs NAPI on the peer: on each bridge port
    this.#napi = new NapiPorts(this.sw, ['sw-nat', ...SERVERS.map((s) => `sw-${s.name}`), ...(this.director ? ['sw-dir'] : []), ...(this.director2 ? ['sw-dir2'] : [])]);

    const up = randomBytes(o.uploadBytes);
    writeFileSync(path.join(this.tmp, 'up.bin'), up);
    this.#uploadSha = createHash('sha256').update(up).digest('hex');
    const data = randomBytes(o.downloadBytes);
    for (const s of SERVERS) {
      this.pins[s.name] = new TempBpffs();
      this.#quicsteer(s.name, ['realserver', 'setup', '--vip', VIP, '--state', this.#stateFile(s.name)]);
      const key: Record<string, string> = this.cidKeyFile ? { QS_CID_KEY_FILE: this.cidKeyFile } : {};
      const listen = o.listenAny ? '*' : VIP;
      const ns = this.rs[s.name].name;
      const q: LabServer =
        this.stacks.server === 'ngtcp2'
          ? new Ngtcp2Server(ns, listen, PORT, { log: true, env: { LD_PRELOAD: CID_SHIM, QS_CID_FIRST_OCTET: this.cid.firstOctet.toString(16), QS_CID_SERVER_ID: s.sid, ...key } })
          : new PeerServer(this.stacks.server, ns, listen, PORT, s.sid, this.cid, (o.idleTimeoutS ?? 5) * 1000);
      writeFileSync(q.download, data);
      q.start();
      this.quic[s.name] = q;
    }
    this.#downloadSha = createHash('sha256').update(data).digest('hex');
  }

  /** The IPVS directors: one (ipvs), a VRRP pair (vrrp) or two behind a multipath route (ecmp). */
  #buildDirectors(): void {
    const o = this.opts;
    for (const m of ['ip_vs', `ip_vs_${this.#sched.scheduler}`]) spawnSync('modprobe', [m], { stdio: 'ignore' });
    const dirs: [Netns, string, string, string][] = [[this.director!, 'sw-dir', DIRECTOR_IP, 'dir1']];
    if (this.director2) dirs.push([this.director2, 'sw-dir2', DIRECTOR2_IP, 'dir2']);
    for (const [ns, port, ip] of dirs) this.sw.plug(ns, port, 'd0', `${ip}/24`);
    if (o.director === 'vrrp') {
      // the VIP lives where VRRP puts it (the master's d0): the NAT finds it by ARP on the segment
      this.nat.ip('route', 'add', `${VIP}/32`, 'dev', 'n1');
      const file = this.#writeDirectorFile('director.json', this.#pool.map((name) => ({ name, weight: 1 })));
      dirs.forEach(([, , , who], i) => {
        const conf = this.#quicsteer('director', ['director', 'keepalived', '-f', file, '--quicsteer', path.join(rootOnlyScripts('lab'), 'quicsteer'), '--router-id', `qs-${who}`,
          '--vrrp', 'd0', '--vrrp-id', VRRP_ID, '--priority', i === 0 ? '150' : '100', '--state', i === 0 ? 'master' : 'backup']).stdout;
        writeFileSync(path.join(this.tmp, `keepalived-${who}.conf`), conf);
      });
      return;
    }
    for (const [ns] of dirs) ns.ip('addr', 'add', `${VIP}/32`, 'dev', 'lo');
    // flows of a real server taken out of a listener are scheduled again, not dropped (see README)
    for (const [ns] of dirs) this.#sysctl(ns, 'net.ipv4.vs.expire_nodest_conn=1');
    if (o.director === 'ecmp') {
      // an L4 hash: each client address and port sticks to one director
      this.#sysctl(this.nat, 'net.ipv4.fib_multipath_hash_policy=1');
      this.#ecmpRoute(['dir1', 'dir2']);
    } else {
      this.nat.ip('route', 'add', `${VIP}/32`, 'via', DIRECTOR_IP);
      // the shadow listeners, reached through the director too
      for (const a of Object.values(SHADOW)) {
        this.director!.ip('addr', 'add', `${a}/32`, 'dev', 'lo');
        this.nat.ip('route', 'add', `${a}/32`, 'via', DIRECTOR_IP);
      }
    }
    this.#directorPool('dir1', this.#pool.map((name) => ({ name, weight: 1 })));
    if (this.director2) this.#directorPool('dir2', this.#pool.map((name) => ({ name, weight: 1 })));
  }

  get #sched(): Scheduler {
    return this.opts.scheduler ?? { scheduler: 'sh', flags: ['sh-port'] };
  }

  get #pool(): RsName[] {
    return this.opts.pool ?? SERVERS.map((s) => s.name);
  }

  #listener(vip: string, reals: { name: RsName; weight: number }[]) {
    return {
      vip: `${vip}:${PORT}`,
      ...this.#sched,
      // probed rarely: the checks are not what these runs test, and each costs a node start under TCG
      health: { timeout: 2, interval: 60, unhealthyThreshold: 3, healthyThreshold: 3 },
      realServers: reals.map((r) => ({ address: SERVERS.find((s) => s.name === r.name)!.ip, port: PORT, weight: r.weight, serverId: SERVERS.find((s) => s.name === r.name)!.sid })),
    };
  }

  #writeDirectorFile(name: string, reals: { name: RsName; weight: number }[]): string {
    const file = path.join(this.tmp, name);
    writeFileSync(file, JSON.stringify({ listeners: [this.#listener(VIP, reals)] }));
    return file;
  }

  /** `quicsteer director apply` on one director: the listener with these real servers and weights. */
  #directorPool(who: 'dir1' | 'dir2', reals: { name: RsName; weight: number }[]): void {
    const file = this.#writeDirectorFile(`director-${who}.json`, reals);
    this.#quicsteer(who === 'dir1' ? 'director' : 'director2', ['director', 'apply', '-f', file, '--state', this.#stateFile(who === 'dir1' ? 'director' : 'director2')]);
  }

  /** ecmp: the NAT's route to the VIP, over these directors. */
  #ecmpRoute(via: ('dir1' | 'dir2')[]): void {
    const hops = via.flatMap((d) => ['nexthop', 'via', d === 'dir1' ? DIRECTOR_IP : DIRECTOR2_IP]);
    this.nat.ip('route', 'replace', `${VIP}/32`, ...hops);
  }

  #in(ns: Netns, ...cmd: string[]): string {
    return sh('ip', 'netns', 'exec', ns.name, ...cmd);
  }

  #sysctl(ns: Netns, kv: string): void {
    this.#in(ns, 'sysctl', '-qw', kv);
  }

  /** The NAT's one rule: the client's UDP leaves as NAT_PUBLIC, with the port (range) given. */
  #snat(to: string): void {
    this.#nftTable(this.nat, 'qsnat', `chain post { type nat hook postrouting priority 100; oifname "n1" ip saddr 203.0.113.0/24 meta l4proto udp snat to ${to}; };`);
  }

  /** Replaces (or, with body null, removes) table `ip <name>` in a namespace, in one nft transaction. */
  #nftTable(ns: Netns, name: string, body: string | null): void {
    const had = spawnSync('ip', ['netns', 'exec', ns.name, 'nft', 'list', 'table', 'ip', name], { stdio: 'ignore' }).status === 0;
    const input = `${had ? `delete table ip ${name}\n` : ''}${body === null ? '' : `table ip ${name} { ${body} }\n`}`;
    if (input) execFileSync('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input });
  }

  /**
   * The client host's own port rewrite, stateless (`from` becomes `to` on the way out, and back on the
   * way in): conntrack NAT would not do, since the entry a flow gets after the rule may be one an
   * incoming packet created, and a reply direction is never mapped. null removes it.
   */
  #clientPort(map: { from: number; to: number } | null): void {
    this.#nftTable(
      this.cl,
      'qsclient',
      map &&
        `chain out { type filter hook postrouting priority raw; oifname "cl0" udp sport ${map.from} udp sport set ${map.to}; };
         chain in { type filter hook prerouting priority raw; iifname "cl0" udp dport ${map.to} udp dport set ${map.from}; };`,
    );
  }

  /** Where setup records what it changed: per real server, and the director's. */
  #stateFile(who: RsName | 'director' | 'director2'): string {
    return path.join(this.tmp, `${who}-state.json`);
  }

  /**
   * Runs quicsteer as a separate process in a real server's namespace (with its own pin path) or
   * the director's; throws its error line, unless `check` is false.
   */
  #quicsteer(where: RsName | 'director' | 'director2', args: string[], check = true): { ok: boolean; stdout: string } {
    const ns = where === 'director' ? this.director! : where === 'director2' ? this.director2! : this.rs[where];
    const full = [...(where === 'director' || where === 'director2' ? [] : ['--pin-path', this.pins[where].dir]), ...args];
    const r = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, QUICSTEER, ...full], { encoding: 'utf8', cwd: '/' });
    if (check && r.status !== 0) throw new Error(`quicsteer ${full.join(' ')}: ${r.stderr.trim()}`);
    return { ok: r.status === 0, stdout: r.stdout };
  }

  /** quicsteer as a separate process in a real server's namespace, with its pin path (see #quicsteer). */
  quicsteer(where: RsName, args: string[], check = true): { ok: boolean; stdout: string } {
    return this.#quicsteer(where, args, check);
  }

  /** Another client stack for the next runs (the servers stay). */
  useClient(client: Stack): void {
    if ((client === 'ngtcp2') !== (this.stacks.server === 'ngtcp2')) throw new RangeError('lab: gtlsclient speaks HTTP/3 to gtlsserver only; the other stacks speak the peer protocol to each other');
    this.stacks.client = client;
  }

  /** quicsteer on every real server: attached with its own ID, the VIP with its CID layout, all peers. */
  steering(on: boolean): void {
    for (const s of SERVERS) {
      if (!on) {
        this.#quicsteer(s.name, ['detach', 'eth0']);
        continue;
      }
      // one `apply` per server (what `attach`, `vips add` and `servers add` x3 do, in one generation):
      // each quicsteer process costs about a second under the VM tier's TCG
      const file = path.join(this.tmp, `apply-${s.name}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          localId: s.sid,
          interfaces: [{ name: 'eth0' }],
          vips: [{ address: `${VIP}:${PORT}`, cid: this.cidKeyFile ? `${this.cid.spec},key-file=${this.cidKeyFile}` : this.cid.spec }],
          servers: SERVERS.map((p) => ({ id: p.sid, mac: this.mac[p.name] })),
        }),
      );
      this.#quicsteer(s.name, ['apply', '-f', file]);
    }
  }

  /** `quicsteer stats` of each real server: packets per reason (none where quicsteer is detached or stats failed). */
  reasonPackets(): Record<RsName, Record<string, number>> {
    const out = {} as Record<RsName, Record<string, number>>;
    for (const s of SERVERS) {
      const st = this.#quicsteer(s.name, ['stats', '--json'], false);
      const reasons = st.ok ? (JSON.parse(st.stdout) as { reasons: Record<string, { packets: number }> }).reasons : {};
      out[s.name] = Object.fromEntries(Object.entries(reasons).map(([k, v]) => [k, v.packets]));
    }
    return out;
  }

  /** Packets each real server steered to another (0 where quicsteer is detached). */
  steeredPackets(): Record<RsName, number> {
    const r = this.reasonPackets();
    return Object.fromEntries(SERVERS.map((s) => [s.name, r[s.name].steered ?? 0])) as Record<RsName, number>;
  }

  /** The simulated director: the NAT sends the VIP to this real server's MAC. */
  #point(to: RsName): void {
    this.nat.ip('neigh', 'replace', VIP, 'lladdr', this.mac[to], 'dev', 'n1', 'nud', 'permanent');
  }

  /** IPVS's choice per client public address for a listener (`ipvsadm -Lnc` in a director). */
  ipvsChoices(on: 'dir1' | 'dir2' = 'dir1', vip = VIP): Map<string, RsName> {
    const out = new Map<string, RsName>();
    for (const line of this.#in(on === 'dir1' ? this.director! : this.director2!, 'ipvsadm', '-Lnc').split('\n')) {
      const m = /^UDP\s+\S+\s+\S+\s+(\S+)\s+(\S+)\s+([\d.]+):\d+/.exec(line.trim());
      const rs = m && m[2] === `${vip}:${PORT}` && SERVERS.find((s) => s.ip === m[3]);
      if (rs) out.set(m[1]!, rs.name);
    }
    return out;
  }

  /** the client's public addresses before and after the last run's event */
  #lastPublic: string[] = [];

  get #clientErr(): string {
    return path.join(this.tmp, 'client.stderr');
  }

  /** tcpdump on the NAT's public link, headers only, once it is listening. */
  async #startCapture(file: string): Promise<ChildProcess> {
    const p = spawn('ip', ['netns', 'exec', this.nat.name, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', 'n1', '-s', '160', '-U', '-w', file, 'udp', 'port', String(PORT)], { stdio: ['ignore', 'ignore', 'pipe'] });
    claimChild(p);
    let err = '';
    await new Promise<void>((resolve, reject) => {
      p.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) resolve();
      });
      p.once('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${err.trim()}`)));
    });
    return p;
  }

  /**
   * What the path from the client to the real servers holds right after a run (read before the next
   * run flushes it): the client's errors, the NAT's translations and shaping counters, the
   * director's connections and counters, the links. For a run whose packets went missing.
   */
  diagnose(): string {
    const tryIn = (ns: Netns | undefined, ...cmd: string[]) => {
      if (!ns) return '';
      const r = spawnSync('ip', ['netns', 'exec', ns.name, ...cmd], { encoding: 'utf8' });
      return `$ ${cmd.join(' ')}\n${(r.stdout + r.stderr).trim()}`;
    };
    return [
      `$ the ${this.stacks.client} client's stderr\n${existsSync(this.#clientErr) ? readFileSync(this.#clientErr, 'utf8').trim().split('\n').slice(-20).join('\n') : ''}`,
      tryIn(this.nat, 'conntrack', '-L', '-p', 'udp'),
      tryIn(this.nat, 'tc', '-s', 'qdisc', 'show'),
      // the director's connections of the last run's two public addresses
      tryIn(this.director, 'ipvsadm', '-Lnc').split('\n').filter((l, i) => i < 3 || this.#lastPublic.some((a) => l.includes(`${a} `))).join('\n'),
      tryIn(this.director, 'ipvsadm', '-Ln', '--stats'),
      tryIn(this.director2, 'ipvsadm', '-Lnc'),
      tryIn(this.director2, 'ipvsadm', '-Ln', '--stats'),
      tryIn(this.director, 'ip', '-s', 'link', 'show', 'd0'),
      ...SERVERS.map((s) => tryIn(this.rs[s.name], 'ip', '-s', 'link', 'show', 'eth0')),
    ].join('\n');
  }

  /** One UDP datagram from NAT_PUBLIC:<port> to each listener address, for each port: IPVS schedules each (the servers drop them). */
  #probePorts(ports: number[], vips: string[]): void {
    const code = `const d=require('dgram');const ps=${JSON.stringify(ports)};const vs=${JSON.stringify(vips)};const next=(i)=>{if(i===ps.length)return;const k=d.createSocket('udp4');k.bind(ps[i],'${NAT_PUBLIC}',()=>{let n=0;for(const v of vs)k.send('qs-probe',${PORT},v,()=>{if(++n===vs.length){k.close();next(i+1);}});});};next(0);`;
    execFileSync('ip', ['netns', 'exec', this.nat.name, process.execPath, '-e', code]);
  }

  /** 24 source ports no earlier run used. */
  #candidatePorts(): number[] {
    const base = 31000 + 200 * (this.#runs % 100);
    return Array.from({ length: 24 }, (_, i) => base + i);
  }

  /**
   * Public source ports that IPVS sends to two different real servers, found by asking it: one UDP
   * datagram from NAT_PUBLIC per candidate port, then its connection table. `adjacent`: p and p+1.
   */
  #portsToDifferentServers(adjacent: boolean): [number, number] {
    const cands = this.#candidatePorts();
    this.#probePorts(cands, [VIP]);
    const got = this.ipvsChoices();
    const at = (p: number) => got.get(`${NAT_PUBLIC}:${p}`);
    for (const p of cands)
      for (const q of adjacent ? [p + 1] : cands) if (at(p) && at(q) && at(p) !== at(q)) return [p, q];
    throw new Error(`IPVS sent every probe port to one real server: ${[...got].join(' ')}`);
  }

  /**
   * A pool change's ports: p1 (the client's first) and p2 (its port after the NAT rebinding), such that
   * the listener's table before the change sends both to the same server (so only the change moves the
   * flow) and the table after it sends p2 elsewhere (to `to`, when given). Found on two shadow listeners
   * with the two tables, whose scheduling is the listener's (same scheduler, real servers in the same
   * order; IPVS' sh and mh hash the client's address and port with fixed keys). `from`: the server the
   * old table picks; `to`: the one the new table picks for p2. undefined when no candidate pair fits.
   */
  #poolPorts(before: { name: RsName; weight: number }[], after: { name: RsName; weight: number }[], want: { from?: RsName; to?: RsName }): [number, number] | undefined {
    const d = this.director!;
    const ipvs = (...a: string[]) => this.#in(d, 'ipvsadm', ...a);
    const sched = ['-s', this.#sched.scheduler, ...(this.#sched.flags.length ? ['-b', this.#sched.flags.join(',')] : [])];
    const make = (vip: string, reals: { name: RsName; weight: number }[]) => {
      ipvs('-A', '-u', `${vip}:${PORT}`, ...sched);
      for (const r of reals) ipvs('-a', '-u', `${vip}:${PORT}`, '-r', `${SERVERS.find((s) => s.name === r.name)!.ip}:${PORT}`, '-g', '-w', String(r.weight));
    };
    make(SHADOW.old, before);
    // the new table is made as director apply makes it: the old one, then each change (mh keeps a
    // server whose weight drops to 0 in its table, one created with weight 0 is left out)
    make(SHADOW.new, before);
    const ep = (name: RsName) => `${SERVERS.find((s) => s.name === name)!.ip}:${PORT}`;
    for (const r of after) {
      const was = before.find((b) => b.name === r.name);
      if (!was) ipvs('-a', '-u', `${SHADOW.new}:${PORT}`, '-r', ep(r.name), '-g', '-w', String(r.weight));
      else if (was.weight !== r.weight) ipvs('-e', '-u', `${SHADOW.new}:${PORT}`, '-r', ep(r.name), '-g', '-w', String(r.weight));
    }
    for (const b of before) if (!after.some((r) => r.name === b.name)) ipvs('-d', '-u', `${SHADOW.new}:${PORT}`, '-r', ep(b.name));
    try {
      const cands = this.#candidatePorts();
      this.#probePorts(cands, [SHADOW.old, SHADOW.new]);
      const [o, n] = [this.ipvsChoices('dir1', SHADOW.old), this.ipvsChoices('dir1', SHADOW.new)];
      const at = (m: Map<string, RsName>, p: number) => m.get(`${NAT_PUBLIC}:${p}`);
      for (const p2 of cands) {
        const moved = at(o, p2) && at(n, p2) && at(n, p2) !== at(o, p2) && (!want.to || at(n, p2) === want.to) && (!want.from || at(o, p2) === want.from);
        const p1 = moved && cands.find((p) => p !== p2 && at(o, p) === at(o, p2));
        if (p1) return [p1, p2];
      }
      return undefined;
    } finally {
      ipvs('-D', '-u', `${SHADOW.old}:${PORT}`);
      ipvs('-D', '-u', `${SHADOW.new}:${PORT}`);
    }
  }

  /**
   * A director event: its setup before the client starts (the client's public port p1, and p2 after
   * a NAT rebinding, p1 when there is none), its action at the event, and the directors' choices after.
   */
  async #directorEvent(event: DirectorEvent): Promise<DirectorPlan> {
    const need = EVENT_DIRECTOR[event];
    if (this.opts.director !== need) throw new Error(`lab: ${event} runs on the '${need}' director variant; this lab has '${this.opts.director}'`);
    const base = this.#pool.map((name) => ({ name, weight: 1 }));
    const choice = (on: 'dir1' | 'dir2', port: number) => this.ipvsChoices(on).get(`${NAT_PUBLIC}:${port}`);
    if (need === 'vrrp') {
      await this.#restartVrrp();
      // the NAT may still name the previous run's backup for the VIP (a gratuitous ARP from dir1 can
      // trail its taking the VIP): forget it, so the next datagram asks, and the master answers
      spawnSync('ip', ['-n', this.nat.name, 'neigh', 'del', VIP, 'dev', 'n1'], { stdio: 'ignore' });
      const [p1, warm] = this.#candidatePorts();
      // one flow first: the master's weighted round robin gives the client the next server, the
      // backup's (which has seen no flow) its first, so the failover moves the flow
      this.#probePorts([warm!], [VIP]);
      if (!choice('dir1', warm!)) throw new Error(`lab: the warm-up flow did not reach the master director:\n${this.#in(this.director!, 'ipvsadm', '-Lnc')}\n${this.nat.ip('neigh', 'show', 'dev', 'n1')}`);
      let before: RsName | undefined;
      let vipMoveMs: RunResult['vipMoveMs'];
      return {
        p1: p1!,
        p2: p1!,
        act: async () => {
          before = choice('dir1', p1!);
          const t = Date.now();
          if (event === 'failover-stop') this.#keepalived.dir1!.kill('SIGTERM');
          else this.director!.ip('link', 'set', 'd0', 'down');
          vipMoveMs = await this.#vipMoved(t);
        },
        result: () => ({ directorBefore: before, directorAfter: choice('dir2', p1!), directors: { before: 'dir1', after: 'dir2' }, vipMoveMs }),
      };
    }
    if (need === 'ipvs') {
      this.#directorPool('dir1', base);
      let after: { name: RsName; weight: number }[] = [];
      let ports: [number, number] | undefined;
      if (event === 'pool-add') {
        const added = SERVERS.map((x) => x.name).find((n) => !this.#pool.includes(n));
        if (!added) throw new Error('lab: pool-add needs a real server outside the listener (LabOptions.pool)');
        after = [...base, { name: added, weight: 1 }];
        ports = this.#poolPorts(base, after, { to: added });
      } else {
        // the owner is drained or removed: try each server of the pool as the owner
        for (const owner of this.#pool) {
          after = event === 'pool-drain' ? base.map((r) => (r.name === owner ? { ...r, weight: 0 } : r)) : base.filter((r) => r.name !== owner);
          ports = this.#poolPorts(base, after, { from: owner });
          if (ports) break;
        }
      }
      if (!ports) throw new Error(`lab: no probe ports that ${event} moves`);
      const [p1, p2] = event === 'pool-remove' ? [ports[0], ports[0]] : ports;
      let before: RsName | undefined;
      return {
        p1,
        p2,
        act: async () => {
          before = choice('dir1', p1);
          this.#directorPool('dir1', after);
          if (p2 !== p1) this.#rebind(`${NAT_PUBLIC}:${p2}`);
        },
        result: () => ({ directorBefore: before, directorAfter: choice('dir1', p2) }),
      };
    }
    // ecmp: both directors with the same table, the route over both
    this.#directorPool('dir1', base);
    this.#directorPool('dir2', base);
    this.#ecmpRoute(['dir1', 'dir2']);
    const p1 = this.#candidatePorts()[0]!;
    let from: 'dir1' | 'dir2' = 'dir1';
    let before: RsName | undefined;
    const other = (d: 'dir1' | 'dir2') => (d === 'dir1' ? 'dir2' : 'dir1');
    return {
      p1,
      p2: p1,
      act: async () => {
        from = choice('dir1', p1) ? 'dir1' : 'dir2';
        before = choice(from, p1);
        if (event === 'ecmp-fail-differs') this.#directorPool(other(from), base.map((r) => (r.name === before ? { ...r, weight: 0 } : r)));
        this.#ecmpRoute([other(from)]);
      },
      result: () => ({ directorBefore: before, directorAfter: choice(other(from), p1), directors: { before: from, after: other(from) } }),
    };
  }

  /** The NAT moves the client to a new public address (its SNAT swapped, its conntrack entry deleted). */
  #rebind(to: string): void {
    this.#snat(to);
    this.#in(this.nat, 'conntrack', '-D', '-p', 'udp', '--orig-src', CLIENT_IP);
  }

  /** vrrp: both keepalived started afresh (fresh IPVS tables, no connections), dir1 master, dir2 backup. */
  async #restartVrrp(): Promise<void> {
    await this.#stopKeepalived();
    const dirs = [['dir1', this.director!], ['dir2', this.director2!]] as const;
    for (const [, ns] of dirs) {
      ns.ip('link', 'set', 'd0', 'up');
      spawnSync('ip', ['-n', ns.name, 'addr', 'del', `${VIP}/32`, 'dev', 'd0'], { stdio: 'ignore' });
    }
    const holds = (ns: Netns) => ns.ip('-o', 'addr', 'show', 'dev', 'd0').includes(` ${VIP}/32 `);
    const services = (ns: Netns) => (this.#in(ns, 'ipvsadm', '-S', '-n').match(/^-a -u /gm) ?? []).length === this.#pool.length;
    const until = async (what: string, ok: () => boolean) => {
      for (let t0 = Date.now(); !ok(); await sleep(100)) if (Date.now() - t0 > 20_000) throw new Error(`lab: keepalived: ${what} within 20 s; logs:\n${this.#keepalivedLogs()}`);
    };
    for (const [who, ns] of dirs) {
      const log = path.join(this.tmp, `keepalived-${who}.log`);
      const fd = openSync(log, 'w');
      const files = (k: string) => path.join(this.tmp, `keepalived-${who}.${k}.pid`);
      const p = spawn('ip', ['netns', 'exec', ns.name, 'keepalived', '-n', '-l', '-D', '-f', path.join(this.tmp, `keepalived-${who}.conf`), '-p', files('main'), '-r', files('vrrp'), '-c', files('check')], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      claimChild(p);
      this.#keepalived[who] = p;
      if (who === 'dir1') await until('dir1 holds the VIP and its listener', () => holds(ns) && services(ns));
      else await until('dir2 is backup with its listener', () => readFileSync(log, 'utf8').includes('Entering BACKUP STATE') && services(ns) && !holds(ns));
    }
  }

  #keepalivedLogs(): string {
    return (['dir1', 'dir2'] as const).map((w) => {
      const f = path.join(this.tmp, `keepalived-${w}.log`);
      return `--- ${w}\n${existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').slice(-15).join('\n') : '(none)'}`;
    }).join('\n');
  }

  async #stopKeepalived(): Promise<void> {
    for (const who of ['dir1', 'dir2'] as const) {
      const p = this.#keepalived[who];
      if (!p) continue;
      if (p.exitCode === null && p.signalCode === null) {
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await Promise.race([gone, sleep(10_000).then(() => p.kill('SIGKILL'))]);
        await gone;
      }
      delete this.#keepalived[who];
    }
  }

  /** vrrp: ms from `t` until dir2 holds the VIP, and until the NAT's neighbour entry for it names dir2. */
  async #vipMoved(t: number): Promise<{ held: number; neighbour: number }> {
    const mac2 = (JSON.parse(this.director2!.ip('-j', 'link', 'show', 'd0')) as { address: string }[])[0]!.address;
    let held = NaN;
    let neighbour = NaN;
    while ((Number.isNaN(held) || Number.isNaN(neighbour)) && Date.now() - t < 30_000) {
      if (Number.isNaN(held) && this.director2!.ip('-o', 'addr', 'show', 'dev', 'd0').includes(` ${VIP}/32 `)) held = Date.now() - t;
      if (Number.isNaN(neighbour) && this.nat.ip('neigh', 'show', VIP, 'dev', 'n1').includes(mac2)) neighbour = Date.now() - t;
      await sleep(20);
    }
    return { held, neighbour };
  }

  /** One POST (upload + download in the same request) with the event mid-transfer. */
  async run(event: LabEvent | MoveEvent | DirectorEvent, steering: boolean): Promise<RunResult> {
    this.#runs++;
    const o = this.opts;
    // the client's public address before and after the event; with IPVS, ports it maps apart
    let publicBefore: string;
    let publicAfter: string;
    let clientRange = '32768 60999';
    let plan: DirectorPlan | undefined;
    if (!isDirectorEvent(event) && (o.director === 'vrrp' || o.director === 'ecmp')) throw new Error(`lab: ${event} runs on the neigh or ipvs director variant, not ${o.director}`);
    if (isDirectorEvent(event)) {
      plan = await this.#directorEvent(event);
      this.#snat(`${NAT_PUBLIC}:${plan.p1}`);
      [publicBefore, publicAfter] = [`${NAT_PUBLIC}:${plan.p1}`, `${NAT_PUBLIC}:${plan.p2}`];
    } else if (event === 'director-move') {
      if (this.director) throw new Error('lab: director-move runs on the neigh director (the VM tier moves flows with DIRECTOR_EVENTS)');
      const p1 = 20000 + this.#runs * 2;
      this.#snat(`${NAT_PUBLIC}:${p1}`);
      [publicBefore, publicAfter] = [`${NAT_PUBLIC}:${p1}`, `${NAT_PUBLIC}:${p1}`];
    } else if (event === 'nat-rebinding') {
      const [p1, p2] = this.director ? this.#portsToDifferentServers(false) : [20000 + this.#runs * 2, 20001 + this.#runs * 2];
      this.#snat(`${NAT_PUBLIC}:${p1}`);
      [publicBefore, publicAfter] = [`${NAT_PUBLIC}:${p1}`, `${NAT_PUBLIC}:${p2}`];
    } else if (event === 'migration') {
      // the client's two sockets get the two ports of a two-port range; the NAT keeps ports
      const [p1] = this.director ? this.#portsToDifferentServers(true) : [40000 + this.#runs * 2];
      this.#snat(NAT_PUBLIC);
      clientRange = `${p1} ${p1 + 1}`;
      [publicBefore, publicAfter] = [`${NAT_PUBLIC}:${p1}`, `${NAT_PUBLIC}:${p1 + 1}`];
    } else {
      // one socket on p1; at the event the client's own host maps it to p1 + 1 (the NAT keeps ports).
      // Not gtlsclient --nat-rebinding: that client, after rebinding, drops what arrives on its old
      // socket and goes on sending from it (measured on loopback, no NAT and no quicsteer: 0 and 1
      // of 10 downloads completed), so a run tested the client's bug, not the path
      const [p1] = this.director ? this.#portsToDifferentServers(true) : [40000 + this.#runs * 2];
      this.#snat(NAT_PUBLIC);
      clientRange = `${p1} ${p1}`;
      [publicBefore, publicAfter] = [`${NAT_PUBLIC}:${p1}`, `${NAT_PUBLIC}:${p1 + 1}`];
    }
    this.#clientPort(null);
    this.#sysctl(this.cl, `net.ipv4.ip_local_port_range=${clientRange}`);
    this.#in(this.nat, 'conntrack', '-F');
    if (!this.director) this.#point('rs1');
    // fresh server logs (after the probes), counters read before the run
    for (const q of Object.values(this.quic)) {
      q.stop();
      rmSync(q.logFile, { force: true });
      q.start();
    }
    const before = this.reasonPackets();
    const pcap = path.join(this.tmp, `run-${this.#runs}.pcap`);
    const capture = o.captureCids ? await this.#startCapture(pcap) : undefined;
    // the three servers start together: wait for them together (gtlsserver's is a fixed 300 ms)
    await Promise.all(Object.values(this.quic).map((q) => q.ready()));

    const out = path.join(this.tmp, `dl-${this.#runs}`);
    mkdirSync(out);
    const client = clientCommand(this.stacks.client, {
      vip: VIP,
      port: PORT,
      upload: path.join(this.tmp, 'up.bin'),
      outDir: out,
      idleTimeoutS: o.idleTimeoutS ?? 5,
      ...(event === 'migration' ? { changeLocalAddrMs: o.eventAfterMs } : {}),
    });
    const t0 = Date.now();
    // its stderr (errors only) is kept for diagnose()
    const errFd = openSync(this.#clientErr, 'w');
    const c = spawn('ip', ['netns', 'exec', this.cl.name, 'timeout', String(o.timeoutS), ...client.argv], { stdio: ['ignore', 'ignore', errFd] });
    closeSync(errFd);
    claimChild(c);
    // gtlsclient exits 0 on its idle timeout too: the bytes, not its exit code, tell what happened
    const exited = new Promise<void>((r) => c.on('exit', () => r()));
    await sleep(o.eventAfterMs);
    await plan?.act();
    if (event === 'nat-rebinding') this.#rebind(publicAfter);
    if (event === 'client-rebinding') {
      this.#clientPort({ from: Number(publicBefore.split(':')[1]), to: Number(publicAfter.split(':')[1]) });
    }
    if (!this.director) this.#point('rs2');
    await exited;
    const ms = Date.now() - t0;
    let wireCids: Buffer[] | undefined;
    if (capture) {
      const done = new Promise((r) => capture.once('exit', r));
      capture.kill('SIGINT');
      await done;
      const { serverScids, clientDcids } = serverIssuedCids(udpDatagrams(pcap), PORT, this.cid.len);
      wireCids = [...new Map([...serverScids, ...clientDcids].map((c) => [c.toString('hex'), Buffer.from(c)])).values()];
      rmSync(pcap, { force: true });
    }

    const file = client.downloaded;
    const downloadIdentical = existsSync(file) && createHash('sha256').update(readFileSync(file)).digest('hex') === this.#downloadSha;
    rmSync(out, { recursive: true, force: true });
    const logs = SERVERS.map((s) => ({ name: s.name, log: this.quic[s.name].log() }));
    for (const l of logs) {
      const problem = this.quic[l.name].cidProblem(l.log);
      if (problem) throw new Error(`lab: ${l.name}'s QUIC server: ${problem}`);
    }
    // the owner: the server that did the handshake
    const owner = (logs.find((l) => this.quic[l.name].handshook(l.log)) ?? logs[0]!).name;
    const ownerLog = logs.find((l) => l.name === owner)!.log;
    const ownerSaw = this.quic[owner].saw(ownerLog);
    // which of the client's two ports came first is the kernel's pick: the owner's log tells
    if (event === 'migration' && ownerSaw[0] === publicAfter) [publicBefore, publicAfter] = [publicAfter, publicBefore];
    const uploadComplete = this.quic[owner].uploadComplete(ownerLog, o.uploadBytes, this.#uploadSha);
    const after = this.reasonPackets();
    const steered = {} as Record<RsName, number>;
    const reasons = {} as Record<RsName, Record<string, number>>;
    for (const s of SERVERS) {
      steered[s.name] = (after[s.name].steered ?? 0) - (before[s.name].steered ?? 0);
      // per reason, what moved during the run (why a server did or did not steer)
      reasons[s.name] = Object.fromEntries(Object.entries(after[s.name]).map(([k, v]) => [k, v - (before[s.name][k] ?? 0)]).filter(([, v]) => v !== 0));
    }
    const choice = this.director && !plan ? this.ipvsChoices() : undefined;
    this.#lastPublic = [publicBefore, publicAfter];
    return {
      event,
      steering,
      uploadBytes: o.uploadBytes,
      downloadBytes: o.downloadBytes,
      ms,
      downloadIdentical,
      uploadComplete,
      owner,
      directorBefore: choice ? choice.get(publicBefore) : 'rs1',
      directorAfter: choice ? choice.get(publicAfter) : 'rs2',
      ...plan?.result(),
      publicBefore,
      publicAfter,
      ownerSaw,
      steered,
      reasons,
      ...(wireCids ? { wireCids } : {}),
    };
  }

  destroy(): void {
    for (const p of Object.values(this.#keepalived)) p?.kill('SIGKILL');
    for (const q of Object.values(this.quic)) q.destroy();
    this.#napi?.close();
    // what setup changed inside the namespaces (they go next anyway; this keeps the tools honest)
    for (const s of SERVERS) if (this.pins[s.name]) this.#quicsteer(s.name, ['realserver', 'teardown', '--state', this.#stateFile(s.name)], false);
    if (this.director) this.#quicsteer('director', ['director', 'remove', '--state', this.#stateFile('director')], false);
    if (this.director2) this.#quicsteer('director2', ['director', 'remove', '--state', this.#stateFile('director2')], false);
    for (const ns of [this.cl, this.nat, this.director, this.director2, ...Object.values(this.rs), this.sw]) ns?.destroy();
    for (const p of Object.values(this.pins)) p.destroy();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
