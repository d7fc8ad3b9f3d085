// Two real servers on a bridge, each running the program: a datagram IPVS-DR sent to the wrong one
// (RS1) with a DCID owned by RS2 reaches a UDP socket on the VIP in RS2, source address unchanged.
// Control: the same datagrams with steering detached land on RS1.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ObjectSpec, Link, type Collection } from '../../src/bpf/index.js';
import { publishImage } from '../../src/datapath/install.js';
import { CidFormat, Counter, LbFlags, Reason } from '../../src/bpf/layout.js';
import { u32, whole } from '../../src/bpf/codec.js';
import { native } from '../../src/bpf/native.js';
import { macKey, serverValue, sidKey, vipKey, vipValue } from '../../src/datapath/tables.js';
import { privilegedSerial } from '../helpers/env.js';
import { BPF_OBJ, ROOT } from '../helpers/paths.js';
import { NapiPorts } from '../../src/lab/napi.js';
import { Netns, sh } from '../helpers/netns.js';
import { quicLbCid, shortHeader } from '../helpers/frames.js';
import { sum } from '../helpers/world.js';
import { Listener, settle } from '../helpers/listener.js';

const VIP = '198.51.100.10';
const PORT = 4433;
const CLIENT = '192.0.2.100';
const PEER = path.join(ROOT, 'build/dist/test/helpers/udp-peer.js');
const SID = { rs1: '0001', rs2: '0002' } as const;
type Rs = keyof typeof SID;

class Lab {
  readonly sw = new Netns('qs-sw');
  readonly cl = new Netns('qs-cl');
  readonly rs: Record<Rs, Netns> = { rs1: new Netns('qs-rs1'), rs2: new Netns('qs-rs2') };
  readonly mac = {} as Record<Rs, Buffer>;
  readonly progs: Record<Rs, Collection>;
  readonly napi: NapiPorts;
  readonly links: Partial<Record<Rs, Link>> = {};

  constructor() {
    this.sw.ip('link', 'add', 'br0', 'type', 'bridge');
    this.sw.ip('link', 'set', 'br0', 'up');
    const hosts: [Netns, string, string][] = [
      [this.cl, 'sw-cl', `${CLIENT}/24`],
      [this.rs.rs1, 'sw-rs1', '192.0.2.1/24'],
      [this.rs.rs2, 'sw-rs2', '192.0.2.2/24'],
    ];
    for (const [ns, port, addr] of hosts) this.sw.plug(ns, port, 'eth0', addr);
    for (const r of ['rs1', 'rs2'] as const) {
      const ns = this.rs[r];
      ns.ip('addr', 'add', `${VIP}/32`, 'dev', 'lo');
      this.mac[r] = Buffer.from(ns.mac('eth0').replace(/:/g, ''), 'hex');
    }
    // veth leaves UDP checksums to "offload" and vouches for them in skb metadata, which XDP_TX drops:
    // a steered datagram would arrive with a partial checksum. Real NICs fill it in before the wire.
    sh('ip', 'netns', 'exec', this.cl.name, 'ethtool', '-K', 'eth0', 'tx', 'off');
    // the client sends to the VIP through RS1's MAC, as an IPVS-DR director would
    this.cl.ip('route', 'add', `${VIP}/32`, 'dev', 'eth0');
    this.director('rs1');

    // XDP_TX into a veth is delivered only when the peer runs NAPI: on each bridge port
    this.napi = new NapiPorts(this.sw, ['sw-cl', 'sw-rs1', 'sw-rs2']);

    this.progs = { rs1: this.configure('rs1'), rs2: this.configure('rs2') };
  }

  director(to: Rs): void {
    this.cl.ip('neigh', 'replace', VIP, 'lladdr', [...this.mac[to]].map((b) => b.toString(16).padStart(2, '0')).join(':'), 'dev', 'eth0', 'nud', 'permanent');
  }

  /** One real server's tables: the VIP's QUIC-LB layout, both servers, both peers' MACs, its own ID. */
  configure(r: Rs): Collection {
    const c = ObjectSpec.open(BPF_OBJ).load();
    const both = ['rs1', 'rs2'] as const;
    publishImage((n) => c.maps.get(n)!.fd, {
      localId: sidKey(Buffer.from(SID[r], 'hex')),
      vips: [[vipKey(VIP, PORT), vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: [{ sid_len: 2, nonce_len: 6, flags: LbFlags.ENABLED }] })]],
      servers: both.map((o, slot) => [sidKey(Buffer.from(SID[o], 'hex')), serverValue({ mac: this.mac[o], slot })]),
      peers: both.map((o) => macKey(this.mac[o])),
    });
    return c;
  }

  attach(r: Rs): void {
    const ns = this.rs[r];
    this.links[r] = ns.enter(() => Link.attachXdp(this.progs[r].program('quicsteer_xdp'), { ifindex: native().ifNameToIndex('eth0'), mode: 'native' }));
  }

  detach(r: Rs): void {
    this.links[r]?.close();
    delete this.links[r];
  }

  reason(r: Rs, name: keyof typeof Reason): number {
    return Number(sum(this.progs[r].perCpuMap('qs_stats', whole(u32), Counter).lookup(Reason[name])!).packets);
  }

  async send(owner: Rs, count: number): Promise<string> {
    const data = shortHeader(quicLbCid(0, Buffer.from(SID[owner], 'hex'), 6)).toString('hex');
    await new Promise<void>((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', this.cl.name, process.execPath, PEER, 'send', VIP, String(PORT), data, String(count)], { stdio: 'inherit' });
      p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`sender exited ${c}`))));
    });
    return data;
  }

  destroy(): void {
    for (const l of Object.values(this.links)) l.close();
    this.napi.close();
    for (const c of Object.values(this.progs)) c.close();
    for (const ns of [this.cl, this.rs.rs1, this.rs.rs2, this.sw]) ns.destroy();
  }
}

privilegedSerial('steering across two real servers on a bridge: wrong server -> owner, source address kept', async (t) => {
  const lab = new Lab();
  const l1 = new Listener(lab.rs.rs1, VIP, PORT);
  const l2 = new Listener(lab.rs.rs2, VIP, PORT);
  try {
    await Promise.all([l1.ready, l2.ready]);
    const N = 5;

    // control: no steering -> the datagrams for RS2 land on RS1, where the director sent them
    const data = await lab.send('rs2', N);
    await settle([l1, l2], N);
    t.deepEqual([l1.take().length, l2.take().length], [N, 0], 'without steering RS1 gets RS2\'s datagrams');

    lab.attach('rs1');
    lab.attach('rs2');
    await lab.send('rs2', N);
    await settle([l1, l2], N);
    const at2 = l2.take();
    t.deepEqual([l1.take().length, at2.length], [0, N], 'steered to the owner');
    t.true(at2.every((m) => m.from === CLIENT && m.data === data), 'payload and client source address unchanged');
    t.is(lab.reason('rs1', 'STEERED'), N);
    t.is(lab.reason('rs2', 'LOCAL'), N);

    // own IDs stay where they are
    await lab.send('rs1', N);
    await settle([l1, l2], N);
    t.deepEqual([l1.take().length, l2.take().length], [N, 0], 'RS1\'s own connection IDs stay on RS1');
    t.is(lab.reason('rs1', 'LOCAL'), N);

    // the reverse: the director now picks RS2 for a flow RS1 owns
    lab.director('rs2');
    await lab.send('rs1', N);
    await settle([l1, l2], N);
    t.deepEqual([l1.take().length, l2.take().length], [N, 0], 'RS2 steers RS1\'s datagrams back to RS1');
    t.is(lab.reason('rs2', 'STEERED'), N);

    // and detaching steering on RS2 breaks it again (the control the other way round)
    lab.detach('rs2');
    await lab.send('rs1', N);
    await settle([l1, l2], N);
    t.deepEqual([l1.take().length, l2.take().length], [0, N], 'detached: RS2 keeps what is not its own');
  } finally {
    l1.stop();
    l2.stop();
    lab.destroy();
  }
});
