// gQUIC over a pin path an older build made (the program and maps as they were before gQUIC:
// build/bpf/quicsteer_nogquic.bpf.o, in a second installation): this build reads it, refuses a gquic
// VIP while the older program runs (it would read the flagged VIP as having no layout), swaps its
// program in place keeping every table and counter, and then steers gQUIC by the Maglev table.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { privilegedSerial } from '../helpers/env.js';
import { ROOT } from '../helpers/paths.js';
import { PeerLab, VIP } from '../helpers/peer-lab.js';
import { installation } from '../helpers/installation.js';
import { cli, cliJson } from '../helpers/cli.js';
import { q043Header, quicLbCid, shortHeader } from '../helpers/frames.js';
import { Rng } from '../helpers/fuzz.js';
import { gquicOwner, maglevTable } from '../../src/datapath/maglev.js';
import { GquicVersion } from '../../src/bpf/layout.js';

const OLD_OBJ = path.join(ROOT, 'build/bpf/quicsteer_nogquic.bpf.o');
const PEER_ID = '0c0d';
const PEER_MAC = '02:00:00:00:0c:0d';

type Counter = { packets: number; bytes: number };
interface Stats {
  reasons: Record<string, Counter>;
  servers: Record<string, Counter>;
  gquic: Record<string, Record<string, Counter>>;
}

privilegedSerial("an older build's pin path: read as it is, gquic refused until attach swaps this build in place, then gQUIC steered by the Maglev table", (t) => {
  const lab = new PeerLab('qs-gqup');
  try {
    const old = installation('nogquic', OLD_OBJ);
    const qOld = (...args: string[]) => cli(['--pin-path', lab.fs.dir, ...args], { ns: lab.ns.name, shim: old.shim });
    const q = (...args: string[]) => lab.q(...args);
    const stats = () => cliJson<Stats>(q('stats', '--json'));
    const gquicPins = () => readdirSync(lab.fs.dir).filter((f) => f.startsWith('qs_gquic_')).sort();
    const addr = `${VIP}:443`;

    // the older build attaches and configures: no gQUIC maps anywhere
    t.is(qOld('attach', 'veth0', '--id', '0a0b').code, 0);
    t.is(qOld('vips', 'add', addr, '--cid', 'quic-lb:sid=2,nonce=6').code, 0);
    t.is(qOld('servers', 'add', '0a0b', '--mac', lab.selfMac).code, 0);
    t.is(qOld('servers', 'add', PEER_ID, '--mac', PEER_MAC).code, 0);
    t.deepEqual(gquicPins(), [], 'the older build pins no gQUIC maps');
    const steerToPeer = shortHeader(quicLbCid(0, Buffer.from(PEER_ID, 'hex'), 6));
    lab.sendFromPeer(steerToPeer, 10);

    // this build reads it as it is: no gQUIC counters, nothing repinned by a reader
    const s0 = stats();
    t.is(s0.servers[PEER_ID]!.packets, 10);
    t.deepEqual(s0.gquic, {});
    t.is(q('status', '--json').code, 0);
    t.deepEqual(gquicPins(), []);

    // control: a gquic VIP while the older program runs is refused, and changes nothing
    const vipsBefore = cliJson(q('vips', 'list', '--json'));
    const refused = q('vips', 'add', addr, '--cid', 'quic-lb:sid=2,nonce=6', '--cid', 'gquic');
    t.is(refused.code, 1);
    t.regex(refused.stderr, /^quicsteer: a gquic VIP needs gQUIC in the XDP program, and the one on veth0 \(prog \d+\) predates it: run 'quicsteer attach veth0 --id <id>' from this build first/);
    t.deepEqual(cliJson(q('vips', 'list', '--json')), vipsBefore);
    lab.sendFromPeer(steerToPeer, 5);
    t.is(stats().servers[PEER_ID]!.packets, 15, 'the older program still steers the VIP');

    // the in-place upgrade: this build's program on the same pins; tables and counters carry over
    const up = cliJson<{ program: string }>(q('attach', 'veth0', '--id', '0a0b', '--json'));
    t.is(up.program, 'updated');
    t.deepEqual(gquicPins(), ['qs_gquic_ring', 'qs_gquic_stats'], 'the new maps are pinned beside the older ones');
    t.deepEqual(cliJson(q('vips', 'list', '--json')), vipsBefore);
    t.is(stats().servers[PEER_ID]!.packets, 15);

    t.is(q('vips', 'add', addr, '--cid', 'quic-lb:sid=2,nonce=6', '--cid', 'gquic').stdout, `vip ${addr}: updated\n`);
    // Q043 with CIDs whose first octet names no QUIC-LB config (cr 7): every one goes by the Maglev table
    const table = maglevTable(['0a0b', PEER_ID].map((h) => Buffer.from(h, 'hex')));
    const rng = new Rng(0x51303433);
    let toPeer = 0;
    let local = 0;
    for (let i = 0; i < 40; i++) {
      const cid = rng.bytes(8);
      cid[0] = 0xe0 | (cid[0]! & 0x1f);
      if (gquicOwner(table, cid) === PEER_ID) toPeer++;
      else local++;
      lab.sendFromPeer(q043Header({ cid, version: GquicVersion.Q043 }), 1);
    }
    t.true(toPeer > 0 && local > 0, `both owners drawn (${toPeer} to the peer, ${local} local)`);
    const s1 = stats();
    t.is(s1.servers[PEER_ID]!.packets, 15 + toPeer);
    t.is(s1.gquic.q043!.steered!.packets, toPeer);
    t.is(s1.gquic.q043!.local!.packets, local);
  } finally {
    lab.destroy();
  }
});
