// End to end on the host kernel: a real QUIC download (ngtcp2, server CIDs carrying its server ID)
// through a NAT; mid-transfer the "director" (the NAT gateway's static neighbour entry for the VIP,
// standing in for IPVS-DR's choice) moves the flow to another real server. quicsteer there steers it
// back to the owner and the file arrives byte-identical. Control: with steering detached, it fails.
// (Client migration and NAT rebinding events are issue 6's next step: ngtcp2 0.12's simulated
// rebinding stalled here even without any director change.)
import { spawn, execFileSync } from 'node:child_process';
import { tempDir } from '../helpers/tmp.js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ObjectSpec, Link, type Collection } from '../../src/bpf/index.js';
import { native } from '../../src/bpf/native.js';
import { privilegedSerial } from '../helpers/env.js';
import { Netns, sh } from '../helpers/netns.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { cli, cliJson } from '../helpers/cli.js';
import { QuicServer } from '../helpers/quic-server.js';
import { ROOT, TEST_OBJ } from '../helpers/paths.js';

const VIP = '198.51.100.10';
const PORT = 4433;
const SHIM = path.join(ROOT, 'build/test/libcidshim.so');
const SIZE = 20 * 1024 * 1024;
const SERVERS = { rs1: { ip: '192.0.2.1', sid: '0001' }, rs2: { ip: '192.0.2.2', sid: '0002' } } as const;
type Rs = keyof typeof SERVERS;

class Lab {
  readonly sw = new Netns('qs-msw');
  readonly cl = new Netns('qs-mcl');
  readonly nat = new Netns('qs-mnat');
  readonly rs: Record<Rs, Netns> = { rs1: new Netns('qs-mrs1'), rs2: new Netns('qs-mrs2') };
  readonly pins: Record<Rs, TempBpffs> = { rs1: new TempBpffs(), rs2: new TempBpffs() };
  readonly mac = {} as Record<Rs, string>;
  readonly napi: Collection;
  readonly links: Link[] = [];
  readonly dir = tempDir('qs-mig');
  readonly quic: QuicServer[] = [];

  constructor() {
    this.sw.ip('link', 'add', 'br0', 'type', 'bridge');
    this.sw.ip('link', 'set', 'br0', 'up');
    const onBridge = (ns: Netns, port: string, dev: string, addr: string) => {
      this.sw.ip('link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', ns.name);
      this.sw.ip('link', 'set', port, 'master', 'br0', 'up');
      ns.ip('addr', 'add', addr, 'dev', dev);
      ns.ip('link', 'set', dev, 'up');
    };
    onBridge(this.nat, 'sw-nat', 'n1', '192.0.2.254/24');
    for (const r of ['rs1', 'rs2'] as const) onBridge(this.rs[r], `sw-${r}`, 'eth0', `${SERVERS[r].ip}/24`);
    // client <-> NAT gateway
    this.cl.ip('link', 'add', 'cl0', 'type', 'veth', 'peer', 'name', 'n0', 'netns', this.nat.name);
    this.cl.ip('addr', 'add', '203.0.113.2/24', 'dev', 'cl0');
    this.cl.ip('link', 'set', 'cl0', 'up');
    this.cl.ip('route', 'add', 'default', 'via', '203.0.113.1');
    this.nat.ip('addr', 'add', '203.0.113.1/24', 'dev', 'n0');
    this.nat.ip('link', 'set', 'n0', 'up');
    // the NAT's public address, on the servers' segment; SNAT over a port range
    this.nat.ip('addr', 'add', '192.0.2.200/24', 'dev', 'n1');
    execFileSync('ip', ['netns', 'exec', this.nat.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    execFileSync('ip', ['netns', 'exec', this.nat.name, 'nft', '-f', '-'], {
      input: 'table ip qsnat { chain post { type nat hook postrouting priority 100; oifname "n1" ip saddr 203.0.113.0/24 meta l4proto udp snat to 192.0.2.200:20000-30000; }; }\n',
    });
    // veth leaves checksums to "offload"; XDP_TX drops that promise: real NICs fill them in
    for (const [ns, dev] of [[this.cl, 'cl0'], [this.nat, 'n1'], [this.nat, 'n0']] as const) sh('ip', 'netns', 'exec', ns.name, 'ethtool', '-K', dev, 'tx', 'off');
    // a slow last mile (50 Mbit/s towards the client), so the transfer spans the events
    this.nat.ip('link', 'set', 'n0', 'txqueuelen', '1000');
    sh('ip', 'netns', 'exec', this.nat.name, 'tc', 'qdisc', 'add', 'dev', 'n0', 'root', 'tbf', 'rate', '50mbit', 'burst', '64kb', 'latency', '50ms');
    for (const r of ['rs1', 'rs2'] as const) this.mac[r] = (JSON.parse(this.rs[r].ip('-j', 'link', 'show', 'eth0')) as { address: string }[])[0]!.address;
    this.nat.ip('route', 'add', `${VIP}/32`, 'dev', 'n1');
    this.director('rs1');
    // XDP_TX into a veth needs NAPI on the peer: a pass program on each bridge port
    this.napi = ObjectSpec.open(TEST_OBJ).load();
    for (const port of ['sw-nat', 'sw-rs1', 'sw-rs2'])
      this.links.push(this.sw.enter(() => Link.attachXdp(this.napi.program('test_pass'), { ifindex: native().ifNameToIndex(port), mode: 'native' })));
    writeFileSync(path.join(this.dir, 'data.bin'), randomBytes(SIZE));
    for (const r of ['rs1', 'rs2'] as const) {
      const q = this.q(r, 'realserver', 'setup', '--vip', VIP, '--state', path.join(this.dir, `${r}.json`));
      if (q.code !== 0) throw new Error(q.stderr);
      const srv = new QuicServer(this.rs[r].name, VIP, PORT, { LD_PRELOAD: SHIM, QS_CID_FIRST_OCTET: '11', QS_CID_SERVER_ID: SERVERS[r].sid });
      execFileSync('cp', [path.join(this.dir, 'data.bin'), srv.dir]);
      srv.start();
      this.quic.push(srv);
    }
  }

  /** Where the "director" sends the VIP: the real server whose MAC the static neighbour entry names. */
  director(to: Rs): void {
    this.nat.ip('neigh', 'replace', VIP, 'lladdr', this.mac[to], 'dev', 'n1', 'nud', 'permanent');
  }

  q(r: Rs, ...args: string[]) {
    return cli(['--pin-path', this.pins[r].dir, ...args], { ns: this.rs[r].name });
  }

  steering(on: boolean): void {
    for (const r of ['rs1', 'rs2'] as const) {
      if (!on) {
        this.q(r, 'detach', 'eth0');
        continue;
      }
      for (const args of [
        ['attach', 'eth0', '--id', SERVERS[r].sid],
        ['vips', 'add', `${VIP}:${PORT}`, '--cid', 'quic-lb:sid=2,nonce=15'],
        ['servers', 'add', SERVERS.rs1.sid, '--mac', this.mac.rs1],
        ['servers', 'add', SERVERS.rs2.sid, '--mac', this.mac.rs2],
      ]) {
        const res = this.q(r, ...args);
        if (res.code !== 0) throw new Error(`${r}: ${args.join(' ')}: ${res.stderr}`);
      }
    }
  }

  /** Downloads data.bin from RS1; at `switchAfterMs` the director moves the flow to RS2. */
  async download(switchAfterMs: number): Promise<{ ok: boolean; ms: number; identical: boolean }> {
    this.director('rs1');
    const out = path.join(this.dir, `dl-${Date.now()}`);
    mkdirSync(out);
    const t0 = Date.now();
    const c = spawn('ip', ['netns', 'exec', this.cl.name, 'timeout', '60', 'gtlsclient', '--quiet', '--exit-on-all-streams-close', '--timeout=5s', `--download=${out}`, VIP, String(PORT), `https://${VIP}:${PORT}/data.bin`], { stdio: 'ignore' });
    const done = new Promise<number>((r) => c.on('exit', (code) => r(code ?? -1)));
    await new Promise((r) => setTimeout(r, switchAfterMs));
    this.director('rs2');
    const code = await done;
    const ms = Date.now() - t0;
    const file = path.join(out, 'data.bin');
    const sum = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    const identical = existsSync(file) && sum(file) === sum(path.join(this.dir, 'data.bin'));
    return { ok: code === 0, ms, identical };
  }

  destroy(): void {
    for (const q of this.quic) q.destroy();
    for (const l of this.links) l.close();
    this.napi.close();
    for (const r of ['rs1', 'rs2'] as const) this.q(r, 'realserver', 'teardown', '--state', path.join(this.dir, `${r}.json`));
    for (const ns of [this.cl, this.nat, this.rs.rs1, this.rs.rs2, this.sw]) ns.destroy();
    for (const p of Object.values(this.pins)) p.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

privilegedSerial('a QUIC download survives the director moving it to another real server mid-transfer; without steering it fails', async (t) => {
  const lab = new Lab();
  try {
    lab.steering(true);
    const steered = await lab.download(1000);
    const stats = cliJson<{ reasons: Record<string, { packets: number }> }>(lab.q('rs2', 'stats', '--json'));
    const owner = cliJson<{ reasons: Record<string, { packets: number }> }>(lab.q('rs1', 'stats', '--json'));
    t.log(`with steering: ${SIZE} bytes in ${steered.ms} ms; RS2 steered ${stats.reasons.steered!.packets} packets; RS1 local ${owner.reasons.local!.packets}`);
    t.true(steered.ok, 'the client finished');
    t.true(steered.identical, 'the file arrived byte-identical');
    t.true(stats.reasons.steered!.packets > 0, 'RS2 steered packets to the owner');

    lab.steering(false);
    const control = await lab.download(1000);
    t.log(`without steering: ok=${control.ok} identical=${control.identical} after ${control.ms} ms`);
    t.false(control.ok && control.identical, 'control: without steering the transfer does not complete');
  } finally {
    lab.destroy();
  }
});
