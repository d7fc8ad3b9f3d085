// Key rotation under kill -9, on both AES implementations: the steps of a rotation (vips config add /
// remove) killed at random instants. After every kill the live generation names one whole layout,
// and the attached program decodes exactly that: the old config's CIDs always reach the owner, the
// new config's do whenever the live layout has it, and are unroutable when it does not (the kfunc
// implementation's contexts are written with the generation, before its flip).
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { privilegedSerial } from '../helpers/env.js';
import { Netns } from '../helpers/netns.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { tempDir } from '../helpers/tmp.js';
import { cli, cliJson, SHIM } from '../helpers/cli.js';
import { frame, shortHeader } from '../helpers/frames.js';
import { Link, Program, XdpAction } from '../../src/bpf/index.js';
import { native } from '../../src/bpf/native.js';
import { encodeCid } from '../../src/quic/quic-lb.js';

const VIP = '192.0.2.10';
const PORT = 443;
const OWNER_MAC = '02:00:00:00:00:02';
const KILLS = 24;

for (const aes of ['table', 'kfunc'] as const) {
  privilegedSerial(`kill -9 during the steps of a key rotation (${aes} AES, ${KILLS} kills): the program always decodes exactly the live layout`, async (t) => {
    const ns = new Netns('qs-lbk');
    const fs = new TempBpffs();
    const dir = tempDir('qs-lbk');
    const q = (...a: string[]) => cli(['--pin-path', fs.dir, ...a], { ns: ns.name });
    const ok = (...a: string[]) => {
      const r = q(...a);
      if (r.code !== 0) throw new Error(`quicsteer ${a.join(' ')}: ${r.stderr}`);
    };
    try {
      ns.veth('veth0', 'veth0p');
      const keys = [randomBytes(16), randomBytes(16)];
      const files = keys.map((k, i) => {
        const f = path.join(dir, `k${i}`);
        writeFileSync(f, k.toString('hex'), { mode: 0o600 });
        chmodSync(f, 0o600);
        return f;
      });
      const old = { cr: 0, sidLen: 2, nonceLen: 14, key: keys[0]! };
      const neu = { cr: 1, sidLen: 2, nonceLen: 15, key: keys[1]! };
      ok('attach', 'veth0', '--id', '0001', '--aes', aes);
      ok('vips', 'add', `${VIP}:${PORT}`, '--cid', `quic-lb:sid=2,nonce=14,cr=0,key-file=${files[0]}`);
      ok('servers', 'add', '0002', '--mac', OWNER_MAC);
      const addNew = ['vips', 'config', 'add', `${VIP}:${PORT}`, '--cid', `quic-lb:sid=2,nonce=15,cr=1,key-file=${files[1]}`];
      const removeNew = ['vips', 'config', 'remove', `${VIP}:${PORT}`, '--cr', '1'];
      // fresh nonces each check: the decrypt-once cache must not answer for the program
      const pkt = (c: typeof old) => frame({ ip: { v: 4, src: '198.51.100.7', dst: VIP }, udp: { sport: 5000, dport: PORT }, payload: shortHeader(encodeCid(c, Buffer.from('0002', 'hex'), randomBytes(c.nonceLen)), { rest: Buffer.alloc(20) }) });
      const verdict = (f: Buffer) => {
        const link = Link.openPinned(path.join(fs.dir, `link-${ns.enter(() => native().ifNameToIndex('veth0'))}`));
        const prog = Program.fromId(link.info().progId);
        try {
          return ns.enter(() => prog.testRun({ data: f, repeat: 1 })).retval;
        } finally {
          prog.close();
          link.close();
        }
      };
      // one full step's duration aims the kills
      const t0 = Date.now();
      ok(...addNew);
      ok(...removeNew);
      let step = (Date.now() - t0) / 2;
      let kills = 0, withNew = 0, without = 0;
      // until KILLS kills and both outcomes were seen (a loaded machine stretches a step past the
      // first measure: a step that finished unkilled widens the window the kills aim at)
      for (let i = 0; (kills < KILLS || withNew === 0 || without === 0) && i < KILLS * 6; i++) {
        const args = i % 2 === 0 ? addNew : removeNew;
        const started = Date.now();
        const p = spawn('ip', ['netns', 'exec', ns.name, process.execPath, SHIM, '--pin-path', fs.dir, ...args], { stdio: 'ignore', cwd: '/' });
        const timer = setTimeout(() => p.kill('SIGKILL'), Math.random() * step * 1.2);
        const signal = await new Promise<NodeJS.Signals | null>((r) => p.on('close', (_c, s) => r(s)));
        clearTimeout(timer);
        if (signal === 'SIGKILL') kills++;
        else step = Math.max(step, Date.now() - started);
        const layout = cliJson<{ cid: string[] }[]>(q('vips', 'list', '--json'))[0]!.cid.map((c) => c.replace(/,key-fingerprint=.*/, ''));
        const hasNew = layout.includes('quic-lb:sid=2,nonce=15,cr=1');
        t.deepEqual(layout.filter((c) => c !== 'quic-lb:sid=2,nonce=15,cr=1'), ['quic-lb:sid=2,nonce=14'], 'the old config is always there');
        t.is(verdict(pkt(old)), XdpAction.TX, `old config's CID steered after run ${i}`);
        t.is(verdict(pkt(neu)), hasNew ? XdpAction.TX : XdpAction.PASS, `new config's CID ${hasNew ? 'steered' : 'unroutable'} after run ${i}`);
        if (hasNew) withNew++;
        else without++;
      }
      t.log(`${kills} kills: live layout with the new config after ${withNew}, without after ${without}`);
      t.true(kills >= KILLS, `${kills} kills`);
      t.true(withNew > 0 && without > 0, 'kills left both layouts live at some point');
      // afterwards every command works
      ok('vips', 'config', 'add', `${VIP}:${PORT}`, '--cid', `quic-lb:sid=2,nonce=15,cr=1,key-file=${files[1]}`);
      t.is(verdict(pkt(neu)), XdpAction.TX);
    } finally {
      q('reset');
      fs.destroy();
      ns.destroy();
    }
  });
}
