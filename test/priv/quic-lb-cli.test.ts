// Encrypted QUIC-LB configs through the CLI on real pins: key files in, fingerprints out, keys in the
// maps for the data path and nowhere in any output; idempotent; apply files name key files too.
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { privilegedSerial } from '../helpers/env.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { tempDir } from '../helpers/tmp.js';
import { cli, cliJson, SHIM } from '../helpers/cli.js';
import { spawn } from 'node:child_process';
import { keyFingerprint } from '../../src/control/keys.js';
import { PinnedState } from '../../src/control/state.js';
import { LbFlags, MAX_KEYS } from '../../src/bpf/layout.js';
import { expandKey } from '../../src/quic/aes.js';

const VIP = '192.0.2.10:443';

function keyFile(dir: string, name: string, key: Buffer): string {
  const p = path.join(dir, name);
  writeFileSync(p, key.toString('hex'), { mode: 0o600 });
  chmodSync(p, 0o600);
  return p;
}

privilegedSerial('vips add with key files: fingerprints in list/status, the schedules in qs_keys, no key in any output; idempotent; rotation steps', (t) => {
  const fs = new TempBpffs();
  const dir = tempDir('qs-keycli');
  const q = (...a: string[]) => cli(['--pin-path', fs.dir, ...a]);
  try {
    const a = randomBytes(16);
    const b = randomBytes(16);
    const fa = keyFile(dir, 'a', a);
    const fb = keyFile(dir, 'b', b);
    const specA = `quic-lb:sid=2,nonce=14,key-file=${fa}`;
    const specB = `quic-lb:sid=2,nonce=15,cr=1,key-file=${fb}`;
    const outputs: string[] = [];
    const run = (...args: string[]) => {
      const r = q(...args);
      outputs.push(r.stdout, r.stderr);
      t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return r;
    };
    t.is(run('vips', 'add', VIP, '--cid', specA, '--json').stdout, `${JSON.stringify({ address: VIP, result: 'added' })}\n`);
    t.is(run('vips', 'add', VIP, '--cid', specA).stdout, `vip ${VIP}: unchanged\n`, 'same key file: unchanged');
    const list = cliJson<{ cid: string[] }[]>(run('vips', 'list', '--json'));
    t.deepEqual(list[0]!.cid, [`quic-lb:sid=2,nonce=14,key-fingerprint=${keyFingerprint(a)}`]);
    // a new key under the same file name and layout is a change (keys compared whole, not by fingerprint)
    const a2 = randomBytes(16);
    keyFile(dir, 'a', a2);
    t.is(run('vips', 'add', VIP, '--cid', specA).stdout, `vip ${VIP}: updated\n`);
    keyFile(dir, 'a', a);
    run('vips', 'add', VIP, '--cid', specA);
    // rotation: B beside A, then B alone
    t.is(run('vips', 'add', VIP, '--cid', specA, '--cid', specB).stdout, `vip ${VIP}: updated\n`);
    const both = cliJson<{ vips: { cid: string[] }[] }>(run('status', '--json'));
    t.deepEqual(both.vips[0]!.cid, [`quic-lb:sid=2,nonce=14,key-fingerprint=${keyFingerprint(a)}`, `quic-lb:sid=2,nonce=15,cr=1,key-fingerprint=${keyFingerprint(b)}`]);
    t.regex(run('status').stdout, new RegExp(`key-fingerprint=${keyFingerprint(b)}`));
    // the data path's copy: both keys expanded in the live generation's half of qs_keys, one slot each
    const st = PinnedState.open(fs.dir)!;
    try {
      const img = st.image();
      const confs = img.vips[0]![1].quic_lb;
      t.true((confs[0]!.flags & LbFlags.ENCRYPTED) !== 0 && (confs[1]!.flags & LbFlags.ENCRYPTED) !== 0);
      t.deepEqual([confs[0]!.key_slot, confs[1]!.key_slot], [0, 1]);
      for (const [slot, k] of [[0, a], [1, b]] as const)
        t.deepEqual(st.keys.lookup(img.gen * MAX_KEYS + slot), expandKey(k) as unknown, `slot ${slot}`);
    } finally {
      st.close();
    }
    run('vips', 'add', VIP, '--cid', specB);
    t.deepEqual(cliJson<{ cid: string[] }[]>(run('vips', 'list', '--json'))[0]!.cid, [`quic-lb:sid=2,nonce=15,cr=1,key-fingerprint=${keyFingerprint(b)}`]);
    // the same two steps one config at a time: config add beside, config remove after
    const fc = keyFile(dir, 'c', randomBytes(16));
    const specC = `quic-lb:sid=2,nonce=14,cr=2,key-file=${fc}`;
    t.is(run('vips', 'config', 'add', VIP, '--cid', specC).stdout, `vip ${VIP}: config added\n`);
    t.is(run('vips', 'config', 'add', VIP, '--cid', specC).stdout, `vip ${VIP}: config unchanged\n`);
    const inPlace = q('vips', 'config', 'add', VIP, '--cid', `quic-lb:sid=2,nonce=14,cr=2,key-file=${fa}`);
    t.is(inPlace.code, 1);
    t.regex(inPlace.stderr, /cr=2 holds quic-lb:sid=2,nonce=14,cr=2,key-fingerprint=[0-9a-f]{8}: changing a live config in place strands its connections; add the new one at a free cr, then remove cr=2/);
    t.is(run('vips', 'config', 'remove', VIP, '--cr', '1').stdout, `vip ${VIP}: config removed\n`);
    t.deepEqual(cliJson<{ cid: string[] }[]>(run('vips', 'list', '--json'))[0]!.cid.map((c) => c.replace(/,key-fingerprint=.*/, '')), ['quic-lb:sid=2,nonce=14,cr=2']);
    const last = q('vips', 'config', 'remove', VIP, '--cr', '2');
    t.deepEqual([last.code, last.stderr], [2, `quicsteer: VIP 192.0.2.10:443: cr=2 is its only config: remove the VIP instead (vips remove)\n`]);
    t.is(q('vips', 'config', 'remove', VIP, '--cr', '5').stderr, 'quicsteer: VIP 192.0.2.10:443 has no quic-lb config at cr=5\n');
    t.is(q('vips', 'config', 'remove', VIP, '--cr', '7').code, 2);
    run('vips', 'add', VIP, '--cid', specB);
    // a bad key file changes nothing
    const open = path.join(dir, 'open');
    writeFileSync(open, b.toString('hex'), { mode: 0o644 });
    chmodSync(open, 0o644);
    const before = run('status', '--json').stdout;
    const bad = q('vips', 'add', VIP, '--cid', `quic-lb:sid=2,nonce=15,cr=1,key-file=${open}`);
    t.is(bad.code, 2);
    t.is(q('status', '--json').stdout, before, 'state unchanged');
    for (const k of [a, a2, b]) t.false(outputs.join('').includes(k.toString('hex')), 'no key in any output');
  } finally {
    q('reset');
    fs.destroy();
  }
});

privilegedSerial('apply: key-file paths relative to the file, a second apply is a no-op, a key change is a diff line', (t) => {
  const fs = new TempBpffs();
  const dir = tempDir('qs-keyapply');
  const q = (...a: string[]) => cli(['--pin-path', fs.dir, ...a]);
  try {
    const k = randomBytes(16);
    keyFile(dir, 'lb.key', k);
    const file = path.join(dir, 'quicsteer.json');
    const write = () =>
      writeFileSync(file, JSON.stringify({ localId: '0001', vips: [{ address: VIP, cid: 'quic-lb:sid=2,nonce=14,key-file=lb.key' }], servers: [{ id: '0002', mac: '02:00:00:00:00:02' }] }));
    write();
    const first = q('apply', '-f', file, '--json');
    t.is(first.code, 0, first.stderr);
    t.true((JSON.parse(first.stdout) as { changes: string[] }).changes.includes(`+ vip ${VIP} quic-lb:sid=2,nonce=14,key-fingerprint=${keyFingerprint(k)}`));
    t.is(q('apply', '-f', file).stdout, 'no changes\n');
    const k2 = randomBytes(16);
    keyFile(dir, 'lb.key', k2);
    const dry = q('apply', '-f', file, '--dry-run');
    t.is(dry.stdout, `~ vip ${VIP} quic-lb:sid=2,nonce=14,key-fingerprint=${keyFingerprint(k)} -> quic-lb:sid=2,nonce=14,key-fingerprint=${keyFingerprint(k2)}\n(dry run: nothing changed)\n`);
    t.false(dry.stdout.includes(k.toString('hex')) || dry.stdout.includes(k2.toString('hex')));
    // an inline key in the file is refused (files get copied around; keys live in their own 0600 files)
    writeFileSync(file, JSON.stringify({ localId: '0001', vips: [{ address: VIP, cid: `quic-lb:sid=2,nonce=14,key=${k.toString('hex')}` }] }));
    const inline = q('apply', '-f', file);
    t.is(inline.code, 2);
    t.regex(inline.stderr, /^quicsteer: \S+quicsteer\.json: vips\[0\]\.cid\[0\]: keys are not written inline here .*key-file=<path>/);
    t.false(inline.stderr.includes(k.toString('hex')));
    t.true(readdirSync(dir).includes('lb.key'));
  } finally {
    q('reset');
    fs.destroy();
  }
});

privilegedSerial('concurrent writers: six vips config add at once, each at its own codepoint, all land (no lost update)', async (t) => {
  const fs = new TempBpffs();
  const dir = tempDir('qs-keyconc');
  const q = (...a: string[]) => cli(['--pin-path', fs.dir, ...a]);
  try {
    const keys = Array.from({ length: 7 }, () => randomBytes(16));
    const files = keys.map((k, i) => keyFile(dir, `k${i}`, k));
    t.is(q('vips', 'add', VIP, '--cid', `quic-lb:sid=2,nonce=14,key-file=${files[0]}`).code, 0);
    const runs = await Promise.all(
      [1, 2, 3, 4, 5, 6].map(
        (cr) =>
          new Promise<number | null>((resolve) =>
            spawn(process.execPath, [SHIM, '--pin-path', fs.dir, 'vips', 'config', 'add', VIP, '--cid', `quic-lb:sid=2,nonce=${14 + (cr % 2)},cr=${cr},key-file=${files[cr]}`], { stdio: 'ignore' }).on('close', resolve),
          ),
      ),
    );
    t.deepEqual(runs, [0, 0, 0, 0, 0, 0]);
    const cid = cliJson<{ cid: string[] }[]>(q('vips', 'list', '--json'))[0]!.cid;
    t.deepEqual(
      cid,
      keys.map((k, cr) => `quic-lb:sid=2,nonce=${cr === 0 ? 14 : 14 + (cr % 2)}${cr ? `,cr=${cr}` : ''},key-fingerprint=${keyFingerprint(k)}`),
    );
  } finally {
    q('reset');
    fs.destroy();
  }
});
