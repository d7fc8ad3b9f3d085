// The migration lab: a real QUIC client (ngtcp2 gtlsclient) behind a NAT, a director, and three real
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
// Every real server is configured only through quicsteer commands (realserver setup, attach, vips add,
// servers add), run as separate processes inside its namespace with a private bpffs pin path.
// With `encryptedCids` the servers' CIDs are encrypted QUIC-LB ones: one random key, in a 0600 file
// that the CID shim and quicsteer's VIP (key-file=) both read.
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
import { QuicServer } from './quic.js';
import { tempDir } from './tmp.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const QUICSTEER = path.join(ROOT, 'scripts/quicsteer.mjs');
const CID_SHIM = path.join(ROOT, 'build/lib/libcidshim.so');

export const VIP = '198.51.100.10';
export const PORT = 4433;
export const CLIENT_IP = '203.0.113.2';
export const NAT_PUBLIC = '192.0.2.200';
const DIRECTOR_IP = '192.0.2.254';
/** gtlsserver's CIDs are 18 bytes: first octet 0x11, a 2-byte server ID, a 15-byte nonce */
export const CID_LEN = 18;
export const CID_SPEC = 'quic-lb:sid=2,nonce=15';

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
export type LabEvent = keyof typeof EVENTS;

export interface LabOptions {
  director: 'neigh' | 'ipvs';
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
  event: LabEvent;
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
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class MigrationLab {
  readonly sw = new Netns('qs-msw');
  readonly cl = new Netns('qs-mcl');
  readonly nat = new Netns('qs-mnat');
  readonly director: Netns | undefined;
  readonly rs = {} as Record<RsName, Netns>;
  readonly pins = {} as Record<RsName, TempBpffs>;
  readonly quic = {} as Record<RsName, QuicServer>;
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
      this.director = opts.director === 'ipvs' ? new Netns('qs-mdir') : undefined;
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
    const onBridge = (ns: Netns, port: string, dev: string, addr: string) => {
      this.sw.ip('link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', ns.name);
      this.sw.ip('link', 'set', port, 'master', 'br0', 'up');
      ns.ip('addr', 'add', addr, 'dev', dev);
      ns.ip('link', 'set', dev, 'up');
    };
    onBridge(this.nat, 'sw-nat', 'n1', `${NAT_PUBLIC}/24`);
    for (const s of SERVERS) onBridge(this.rs[s.name], `sw-${s.name}`, 'eth0', `${s.ip}/24`);
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
    for (const s of SERVERS) this.mac[s.name] = (JSON.parse(this.rs[s.name].ip('-j', 'link', 'show', 'eth0')) as { address: string }[])[0]!.address;

    if (this.director) {
      for (const m of ['ip_vs', 'ip_vs_sh']) spawnSync('modprobe', [m], { stdio: 'ignore' });
      onBridge(this.director, 'sw-dir', 'd0', `${DIRECTOR_IP}/24`);
      this.director.ip('addr', 'add', `${VIP}/32`, 'dev', 'lo');
      this.nat.ip('route', 'add', `${VIP}/32`, 'via', DIRECTOR_IP);
      const file = path.join(this.tmp, 'director.json');
      writeFileSync(file, JSON.stringify({ listeners: [{ vip: `${VIP}:${PORT}`, scheduler: 'sh', flags: ['sh-port'], realServers: SERVERS.map((s) => ({ address: s.ip, port: PORT, serverId: s.sid })) }] }));
      this.#quicsteer('director', ['director', 'apply', '-f', file, '--state', this.#stateFile('director')]);
    } else {
      this.nat.ip('route', 'add', `${VIP}/32`, 'dev', 'n1');
    }

    // XDP_TX into a veth needs NAPI on the peer: on each bridge port
    this.#napi = new NapiPorts(this.sw, ['sw-nat', ...SERVERS.map((s) => `sw-${s.name}`), ...(this.director ? ['sw-dir'] : [])]);

    writeFileSync(path.join(this.tmp, 'up.bin'), randomBytes(o.uploadBytes));
    const data = randomBytes(o.downloadBytes);
    for (const s of SERVERS) {
      this.pins[s.name] = new TempBpffs();
      this.#quicsteer(s.name, ['realserver', 'setup', '--vip', VIP, '--state', this.#stateFile(s.name)]);
      const key: Record<string, string> = this.cidKeyFile ? { QS_CID_KEY_FILE: this.cidKeyFile } : {};
      const q = new QuicServer(this.rs[s.name].name, o.listenAny ? '*' : VIP, PORT, { log: true, env: { LD_PRELOAD: CID_SHIM, QS_CID_FIRST_OCTET: '11', QS_CID_SERVER_ID: s.sid, ...key } });
      writeFileSync(path.join(q.dir, 'data.bin'), data);
      q.start();
      this.quic[s.name] = q;
    }
    this.#downloadSha = createHash('sha256').update(data).digest('hex');
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
  #stateFile(who: RsName | 'director'): string {
    return path.join(this.tmp, `${who}-state.json`);
  }

  /**
   * Runs quicsteer as a separate process in a real server's namespace (with its own pin path) or
   * the director's; throws its error line, unless `check` is false.
   */
  #quicsteer(where: RsName | 'director', args: string[], check = true): { ok: boolean; stdout: string } {
    const ns = where === 'director' ? this.director! : this.rs[where];
    const full = [...(where === 'director' ? [] : ['--pin-path', this.pins[where].dir]), ...args];
    const r = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, QUICSTEER, ...full], { encoding: 'utf8', cwd: '/' });
    if (check && r.status !== 0) throw new Error(`quicsteer ${full.join(' ')}: ${r.stderr.trim()}`);
    return { ok: r.status === 0, stdout: r.stdout };
  }

  /** quicsteer as a separate process in a real server's namespace, with its pin path (see #quicsteer). */
  quicsteer(where: RsName, args: string[], check = true): { ok: boolean; stdout: string } {
    return this.#quicsteer(where, args, check);
  }

  /** quicsteer on every real server: attached with its own ID, the VIP with its CID layout, all peers. */
  steering(on: boolean): void {
    for (const s of SERVERS) {
      if (!on) {
        this.#quicsteer(s.name, ['detach', 'eth0']);
        continue;
      }
      this.#quicsteer(s.name, ['attach', 'eth0', '--id', s.sid]);
      this.#quicsteer(s.name, ['vips', 'add', `${VIP}:${PORT}`, '--cid', this.cidKeyFile ? `${CID_SPEC},key-file=${this.cidKeyFile}` : CID_SPEC]);
      for (const p of SERVERS) this.#quicsteer(s.name, ['servers', 'add', p.sid, '--mac', this.mac[p.name]]);
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

  /** IPVS's choice per client public address (`ipvsadm -Lnc` in the director). */
  ipvsChoices(): Map<string, RsName> {
    const out = new Map<string, RsName>();
    for (const line of this.#in(this.director!, 'ipvsadm', '-Lnc').split('\n')) {
      const m = /^UDP\s+\S+\s+\S+\s+(\S+)\s+\S+\s+([\d.]+):\d+/.exec(line.trim());
      const rs = m && SERVERS.find((s) => s.ip === m[2]);
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
      `$ gtlsclient's stderr\n${existsSync(this.#clientErr) ? readFileSync(this.#clientErr, 'utf8').trim().split('\n').slice(-20).join('\n') : ''}`,
      tryIn(this.nat, 'conntrack', '-L', '-p', 'udp'),
      tryIn(this.nat, 'tc', '-s', 'qdisc', 'show'),
      // the director's connections of the last run's two public addresses
      tryIn(this.director, 'ipvsadm', '-Lnc').split('\n').filter((l, i) => i < 3 || this.#lastPublic.some((a) => l.includes(`${a} `))).join('\n'),
      tryIn(this.director, 'ipvsadm', '-Ln', '--stats'),
      tryIn(this.director, 'ip', '-s', 'link', 'show', 'd0'),
      ...SERVERS.map((s) => tryIn(this.rs[s.name], 'ip', '-s', 'link', 'show', 'eth0')),
    ].join('\n');
  }

  /**
   * Public source ports that IPVS sends to two different real servers, found by asking it: one UDP
   * datagram from NAT_PUBLIC per candidate port, then its connection table. `adjacent`: p and p+1.
   */
  #portsToDifferentServers(adjacent: boolean): [number, number] {
    const base = 31000 + 200 * (this.#runs % 100);
    const cands = Array.from({ length: 24 }, (_, i) => base + i);
    const code = `const d=require('dgram');const ps=${JSON.stringify(cands)};const next=(i)=>{if(i===ps.length)return;const k=d.createSocket('udp4');k.bind(ps[i],'${NAT_PUBLIC}',()=>k.send('qs-probe',${PORT},'${VIP}',()=>{k.close();next(i+1);}));};next(0);`;
    execFileSync('ip', ['netns', 'exec', this.nat.name, process.execPath, '-e', code]);
    const got = this.ipvsChoices();
    const at = (p: number) => got.get(`${NAT_PUBLIC}:${p}`);
    for (const p of cands)
      for (const q of adjacent ? [p + 1] : cands) if (at(p) && at(q) && at(p) !== at(q)) return [p, q];
    throw new Error(`IPVS sent every probe port to one real server: ${[...got].join(' ')}`);
  }

  /** One POST (upload + download in the same request) with the event mid-transfer. */
  async run(event: LabEvent, steering: boolean): Promise<RunResult> {
    this.#runs++;
    const o = this.opts;
    // the client's public address before and after the event; with IPVS, ports it maps apart
    let publicBefore: string;
    let publicAfter: string;
    let clientRange = '32768 60999';
    if (event === 'nat-rebinding') {
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
    await sleep(300); // the servers are listening again

    const out = path.join(this.tmp, `dl-${this.#runs}`);
    mkdirSync(out);
    const clientArgs = ['--quiet', '--exit-on-all-streams-close', '--timeout=5s', '-m', 'POST', '-d', path.join(this.tmp, 'up.bin'), `--download=${out}`];
    if (event === 'migration') clientArgs.push(`--change-local-addr=${o.eventAfterMs}ms`);
    const t0 = Date.now();
    // its stderr (errors only, under --quiet) is kept for diagnose()
    const errFd = openSync(this.#clientErr, 'w');
    const c = spawn('ip', ['netns', 'exec', this.cl.name, 'timeout', String(o.timeoutS), 'gtlsclient', ...clientArgs, VIP, String(PORT), `https://${VIP}:${PORT}/data.bin`], { stdio: ['ignore', 'ignore', errFd] });
    closeSync(errFd);
    claimChild(c);
    // gtlsclient exits 0 on its idle timeout too: the bytes, not its exit code, tell what happened
    const exited = new Promise<void>((r) => c.on('exit', () => r()));
    await sleep(o.eventAfterMs);
    if (event === 'nat-rebinding') {
      this.#snat(publicAfter);
      this.#in(this.nat, 'conntrack', '-D', '-p', 'udp', '--orig-src', CLIENT_IP);
    }
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
      const { serverScids, clientDcids } = serverIssuedCids(udpDatagrams(pcap), PORT, CID_LEN);
      wireCids = [...new Map([...serverScids, ...clientDcids].map((c) => [c.toString('hex'), Buffer.from(c)])).values()];
      rmSync(pcap, { force: true });
    }

    const file = path.join(out, 'data.bin');
    const downloadIdentical = existsSync(file) && createHash('sha256').update(readFileSync(file)).digest('hex') === this.#downloadSha;
    rmSync(out, { recursive: true, force: true });
    const logs = SERVERS.map((s) => ({ name: s.name, log: this.quic[s.name].log() }));
    // the CID shim says here (once, at start) why it left a server's CIDs random
    for (const l of logs) {
      const shim = /^cidshim: .*$/m.exec(l.log);
      if (shim) throw new Error(`lab: ${l.name}'s gtlsserver: ${shim[0]}`);
    }
    // the owner: the server that did the handshake (its log has the client's Initial)
    const owner = (logs.find((l) => /rx \d+ Initial/.test(l.log)) ?? logs[0]!).name;
    const ownerLog = logs.find((l) => l.name === owner)!.log;
    const ownerSaw = [...new Set([...ownerLog.matchAll(/^Received packet: local=\S+ remote=\[([^\]]+)\]:(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`))];
    // which of the client's two ports came first is the kernel's pick: the owner's log tells
    if (event === 'migration' && ownerSaw[0] === publicAfter) [publicBefore, publicAfter] = [publicAfter, publicBefore];
    const fin = [...ownerLog.matchAll(/frm rx \d+ 1RTT STREAM\(0x0[9bdf]\) id=0x0 fin=1 offset=(\d+) len=(\d+)/g)];
    // the request stream (id 0) ends past the body: HTTP/3 HEADERS and DATA framing come on top
    const uploadComplete = fin.some((m) => Number(m[1]) + Number(m[2]) >= o.uploadBytes);
    const after = this.reasonPackets();
    const steered = {} as Record<RsName, number>;
    const reasons = {} as Record<RsName, Record<string, number>>;
    for (const s of SERVERS) {
      steered[s.name] = (after[s.name].steered ?? 0) - (before[s.name].steered ?? 0);
      // per reason, what moved during the run (why a server did or did not steer)
      reasons[s.name] = Object.fromEntries(Object.entries(after[s.name]).map(([k, v]) => [k, v - (before[s.name][k] ?? 0)]).filter(([, v]) => v !== 0));
    }
    const choice = this.director ? this.ipvsChoices() : undefined;
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
      publicBefore,
      publicAfter,
      ownerSaw,
      steered,
      reasons,
      ...(wireCids ? { wireCids } : {}),
    };
  }

  destroy(): void {
    for (const q of Object.values(this.quic)) q.destroy();
    this.#napi?.close();
    // what setup changed inside the namespaces (they go next anyway; this keeps the tools honest)
    for (const s of SERVERS) if (this.pins[s.name]) this.#quicsteer(s.name, ['realserver', 'teardown', '--state', this.#stateFile(s.name)], false);
    if (this.director) this.#quicsteer('director', ['director', 'remove', '--state', this.#stateFile('director')], false);
    for (const ns of [this.cl, this.nat, this.director, ...Object.values(this.rs), this.sw]) ns?.destroy();
    for (const p of Object.values(this.pins)) p.destroy();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
