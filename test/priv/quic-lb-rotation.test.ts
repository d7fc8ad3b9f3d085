// Key rotation under live traffic, through the CLI: a client streams QUIC short-header datagrams whose
// encrypted QUIC-LB CIDs name RS2 to RS1 (the director's pick); RS1 steers every one to RS2 while
// its VIP goes from config cr=0 (key A) to cr=0 + cr=1 (key B) to cr=1 alone. Not one datagram may
// land on RS1. Control: changing cr=0's key in place (no rotation) strands the packets in flight.
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { privilegedSerial } from '../helpers/env.js';
import { ROOT } from '../helpers/paths.js';
import { NapiPorts } from '../../src/lab/napi.js';
import { Netns, sh } from '../helpers/netns.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { tempDir } from '../helpers/tmp.js';
import { cli, cliJson, type CliResult } from '../helpers/cli.js';
import { shortHeader } from '../helpers/frames.js';
import { Listener, settle } from '../helpers/listener.js';
import { encodeCid, type LbConfig } from '../../src/quic/quic-lb.js';

const VIP = '198.51.100.20';
const PORT = 4433;
const CLIENT = '192.0.2.100';
const PEER = path.join(ROOT, 'build/dist/test/helpers/udp-peer.js');
const OWNER = '0002';

/** Client, RS1 (quicsteer via the CLI, the director's pick) and RS2 (the owner) on a bridge. */
class Lab {
  readonly sw = new Netns('qs-rsw');
  readonly cl = new Netns('qs-rcl');
  readonly rs1 = new Netns('qs-rr1');
  readonly rs2 = new Netns('qs-rr2');
  readonly fs = new TempBpffs();
  readonly dir = tempDir('qs-rot');
  readonly napi: NapiPorts;
  readonly mac: Record<'rs1' | 'rs2', string> = { rs1: '', rs2: '' };

  constructor() {
    this.sw.ip('link', 'add', 'br0', 'type', 'bridge');
    this.sw.ip('link', 'set', 'br0', 'up');
    for (const [ns, port, addr] of [[this.cl, 'sw-cl', `${CLIENT}/24`], [this.rs1, 'sw-r1', '192.0.2.1/24'], [this.rs2, 'sw-r2', '192.0.2.2/24']] as const) this.sw.plug(ns, port, 'eth0', addr);
    for (const r of ['rs1', 'rs2'] as const) {
      this[r].ip('addr', 'add', `${VIP}/32`, 'dev', 'lo');
      this.mac[r] = this[r].mac('eth0');
    }
    // veth leaves UDP checksums to offload, which XDP_TX drops (see steer-netns.test.ts)
    sh('ip', 'netns', 'exec', this.cl.name, 'ethtool', '-K', 'eth0', 'tx', 'off');
    this.cl.ip('route', 'add', `${VIP}/32`, 'dev', 'eth0');
    this.cl.ip('neigh', 'replace', VIP, 'lladdr', this.mac.rs1, 'dev', 'eth0', 'nud', 'permanent');
    this.napi = new NapiPorts(this.sw, ['sw-cl', 'sw-r1', 'sw-r2']);
  }

  q(...args: string[]): CliResult {
    return cli(['--pin-path', this.fs.dir, ...args], { ns: this.rs1.name });
  }

  ok(...args: string[]): void {
    const r = this.q(...args);
    if (r.code !== 0) throw new Error(`quicsteer ${args.join(' ')}: ${r.stderr}`);
  }

  keyFile(name: string, key: Buffer): string {
    const p = path.join(this.dir, name);
    writeFileSync(p, `${key.toString('hex')}\n`, { mode: 0o600 });
    chmodSync(p, 0o600);
    return p;
  }

  /** Starts streaming datagrams with these CIDs (round and round) until stop() resolves with the count sent. */
  stream(cids: Buffer[], name: string): { stop: () => Promise<number> } {
    const file = path.join(this.dir, `${name}.hex`);
    writeFileSync(file, cids.map((c) => shortHeader(c, { rest: randomBytes(24) }).toString('hex')).join('\n'));
    const p = spawn('ip', ['netns', 'exec', this.cl.name, process.execPath, PEER, 'stream', VIP, String(PORT), file], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number>((resolve, reject) => p.on('exit', (c) => (c === 0 ? resolve((JSON.parse(out) as { sent: number }).sent) : reject(new Error(`stream exited ${c}`)))));
    return {
      stop: () => {
        p.stdin!.end();
        return done;
      },
    };
  }

  reasons(): Record<string, number> {
    const s = cliJson<{ reasons: Record<string, { packets: number }>; quicLbDecrypted: number }>(this.q('stats', '--json'));
    return { ...Object.fromEntries(Object.entries(s.reasons).map(([k, v]) => [k, Number(v.packets)])), decrypted: s.quicLbDecrypted };
  }

  destroy(): void {
    this.napi.close();
    this.q('reset');
    this.fs.destroy();
    for (const ns of [this.cl, this.rs1, this.rs2, this.sw]) ns.destroy();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** 64 CIDs of one config naming the owner: a connection's worth each, distinct nonces (cache misses and hits). */
const cidsOf = (c: LbConfig) => Array.from({ length: 64 }, () => encodeCid(c, Buffer.from(OWNER, 'hex'), randomBytes(c.nonceLen)));

// both AES implementations: every publish of the rotation must give the kfunc program its contexts too
for (const aes of ['table', 'kfunc']) {
  privilegedSerial(`key rotation under live traffic: old and new configs both decode, 0 datagrams misrouted; an in-place key change is the control${aes === 'kfunc' ? ' (kfunc AES)' : ''}`, async (t) => {
    const lab = new Lab();
    const l1 = new Listener(lab.rs1, VIP, PORT);
    const l2 = new Listener(lab.rs2, VIP, PORT);
    try {
      await Promise.all([l1.ready, l2.ready]);
      const keyA = randomBytes(16);
      const keyB = randomBytes(16);
      const fa = lab.keyFile('a.key', keyA);
      const fb = lab.keyFile('b.key', keyB);
      // A: single pass (sid 2 + nonce 14 = 16); B: the 4-pass Feistel (2 + 15 = 17, odd)
      const A = { cr: 0, sidLen: 2, nonceLen: 14, key: keyA };
      const B = { cr: 1, sidLen: 2, nonceLen: 15, key: keyB };
      const specA = `quic-lb:sid=2,nonce=14,cr=0,key-file=${fa}`;
      const specB = `quic-lb:sid=2,nonce=15,cr=1,key-file=${fb}`;
      lab.ok('vips', 'add', `${VIP}:${PORT}`, '--cid', specA);
      lab.ok('servers', 'add', OWNER, '--mac', lab.mac.rs2);
      lab.ok('attach', 'eth0', '--id', '0001', '--aes', aes);
      t.deepEqual(cliJson<{ attached: { aes: string }[] }>(lab.q('status', '--json')).attached.map((x) => x.aes), [aes]);

      const sa = lab.stream(cidsOf(A), 'a');
      await pause(300);
      // step 1: the new config beside the old one (servers start issuing B's CIDs after this)
      lab.ok('vips', 'config', 'add', `${VIP}:${PORT}`, '--cid', specB);
      const sb = lab.stream(cidsOf(B), 'b');
      await pause(300);
      // step 2: old connections are gone; the old config goes, while B's traffic flows
      const sentA = await sa.stop();
      await pause(50);
      lab.ok('vips', 'config', 'remove', `${VIP}:${PORT}`, '--cr', '0');
      await pause(300);
      const sentB = await sb.stop();
      const sent = sentA + sentB;
      await settle([l1, l2], sent);
      const at1 = l1.take().length;
      const at2 = l2.take().length;
      t.true(sentA > 100 && sentB > 100, `both streams ran (${sentA}, ${sentB})`);
      t.is(at1, 0, 'no datagram stayed on RS1');
      t.is(at2, sent, 'every datagram reached the owner');
      const r = lab.reasons();
      t.is(r.steered, sent);
      t.deepEqual([r.unroutable_cid, r.unknown_server], [0, 0]);
      // 128 distinct CIDs, each decrypted once per generation it was seen under; the rest hit the cache
      t.true(r.decrypted! >= 128 && r.decrypted! < sent / 2, `decrypted ${r.decrypted} of ${sent}`);
      const list = cliJson<{ address: string; cid: string[] }[]>(lab.q('vips', 'list', '--json'));
      t.deepEqual(list[0]!.cid.map((c) => c.replace(/,key-fingerprint=[0-9a-f]{8}$/, '')), ['quic-lb:sid=2,nonce=15,cr=1']);

      // control: B's key replaced in place under cr=1 (no rotation) while B's traffic flows
      const fc = lab.keyFile('c.key', randomBytes(16));
      const sc = lab.stream(cidsOf(B), 'c');
      await pause(200);
      lab.ok('vips', 'add', `${VIP}:${PORT}`, '--cid', `quic-lb:sid=2,nonce=15,cr=1,key-file=${fc}`);
      await pause(200);
      const sentC = await sc.stop();
      await settle([l1, l2], sentC);
      const stranded = l1.take().length;
      t.true(stranded > 0, `the in-place key change strands datagrams on RS1 (${stranded} of ${sentC})`);
      t.is(stranded + l2.take().length, sentC);
    } finally {
      l1.stop();
      l2.stop();
      lab.destroy();
    }
  });
}
