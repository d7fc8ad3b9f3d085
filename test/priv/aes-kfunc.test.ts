// The kfunc AES implementation through real BPF: its block functions against node:crypto, the syscall
// program that sets and clears contexts, publish()'s contexts hook, and attach --aes with its pins.
import test from 'ava';
import crypto from 'node:crypto';
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ObjectSpec, type Collection, type Program } from '../../src/bpf/index.js';
import { native } from '../../src/bpf/native.js';
import { CidFormat, CryptoArgs, CryptoOp, LbFlags, MAX_KEYS } from '../../src/bpf/layout.js';
import { CryptoContextError, keyContexts, setContext } from '../../src/datapath/crypto.js';
import { EMPTY_IMAGE, publishImage, type Image } from '../../src/datapath/install.js';
import { vipKey, vipValue } from '../../src/datapath/tables.js';
import { privileged, isRoot, inCI, BPF_KFUNC_OBJ, TEST_AES_KFUNC_OBJ } from '../helpers/env.js';
import { Netns } from '../helpers/netns.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { cli, cliJson, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const XDP_DROP = 1;
const XDP_PASS = 2;
const Op = { NONE: 0, ENCRYPT: 1, DECRYPT: 2 } as const;

const ecb = (key: Buffer, block: Buffer, decrypt = false): Buffer => {
  const c = decrypt ? crypto.createDecipheriv('aes-128-ecb', key, null) : crypto.createCipheriv('aes-128-ecb', key, null);
  return c.setAutoPadding(false).update(block);
};

/** The test program's frame: qs_crypto index, op, block (test/bpf/test_aes_kfunc.bpf.c). */
function frame(index: number, op: number, block: Buffer): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(index, 0);
  b.writeUInt32LE(op, 4);
  block.copy(b, 8);
  return b;
}

/** The shipped kfunc object (its syscall program and contexts map) and the block test program sharing that map. */
class Blocks {
  readonly kfunc: Collection;
  readonly tester: Collection;

  constructor(o: { pinRootPath?: string } = {}) {
    // with a pin path, both reuse what is pinned there (quicsteer's own qs_crypto)
    this.kfunc = ObjectSpec.open(BPF_KFUNC_OBJ, o).load();
    const spec = ObjectSpec.open(TEST_AES_KFUNC_OBJ, o);
    if (!o.pinRootPath) spec.reuseMap('qs_crypto', this.kfunc.maps.get('qs_crypto')!);
    this.tester = spec.load();
  }

  get setter(): Program {
    return this.kfunc.program('qs_crypto_set');
  }

  /** The block after one encrypt/decrypt at `index`, or null when the block function failed. */
  run(index: number, op: number, block: Buffer): Buffer | null {
    const r = this.tester.program('test_aes_block').testRun({ data: frame(index, op, block) });
    if (r.retval === XDP_DROP) return null;
    if (r.retval !== XDP_PASS) throw new Error(`test program returned ${r.retval}`);
    return r.data.subarray(8, 24);
  }

  /** One raw run of the syscall program: the argument as the kernel copied it back, and the run's retval. */
  rawSet(args: { index: number; op: number; key: Buffer }): { back: ReturnType<typeof CryptoArgs.decode>; retval: number } {
    const buf = CryptoArgs.encode({ ...args, err: 0 });
    const r = native().progTestRun(this.setter.fd, { ctxIn: buf, dataSizeOut: 0, ctxSizeOut: 0 });
    return { back: CryptoArgs.decode(buf), retval: r.retval };
  }

  close(): void {
    this.tester.close();
    this.kfunc.close();
  }
}

privileged('kfunc block functions equal node:crypto: FIPS-197, random blocks under several keys, slots in both generations', (t) => {
  const b = new Blocks();
  try {
    // FIPS-197 appendix C.1
    const fipsKey = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    setContext(b.setter.fd, 0, fipsKey);
    t.is(b.run(0, Op.ENCRYPT, Buffer.from('00112233445566778899aabbccddeeff', 'hex'))?.toString('hex'), '69c4e0d86a7b0430d8cdb78070b4c55a');
    t.is(b.run(0, Op.DECRYPT, Buffer.from('69c4e0d86a7b0430d8cdb78070b4c55a', 'hex'))?.toString('hex'), '00112233445566778899aabbccddeeff');

    // generation 0's first and last slots, generation 1's first, second and last
    const indexes = [1, MAX_KEYS - 1, MAX_KEYS, MAX_KEYS + 1, 2 * MAX_KEYS - 1];
    const keys = indexes.map(() => crypto.randomBytes(16));
    indexes.forEach((idx, i) => setContext(b.setter.fd, idx, keys[i]!));
    for (let n = 0; n < 20; n++) {
      const block = crypto.randomBytes(16);
      indexes.forEach((idx, i) => {
        t.deepEqual(b.run(idx, Op.ENCRYPT, block), ecb(keys[i]!, block), `encrypt at ${idx}`);
        t.deepEqual(b.run(idx, Op.DECRYPT, block), ecb(keys[i]!, block, true), `decrypt at ${idx}`);
      });
    }
    // control: each index uses its own key (not one context for all), and the no-cipher run leaves the block as it was
    const block = crypto.randomBytes(16);
    const outs = indexes.map((idx) => b.run(idx, Op.ENCRYPT, block)!.toString('hex'));
    t.is(new Set(outs).size, indexes.length);
    t.deepEqual(b.run(1, Op.NONE, block), block);
  } finally {
    b.close();
  }
});

privileged('the syscall program sets, replaces and clears a context; a slot without one fails the block (unroutable, never a wrong result)', (t) => {
  const b = new Blocks();
  try {
    const [k1, k2] = [crypto.randomBytes(16), crypto.randomBytes(16)];
    const block = crypto.randomBytes(16);
    const idx = MAX_KEYS + 7;
    t.is(b.run(idx, Op.ENCRYPT, block), null, 'never set: fails');
    t.is(b.run(idx, Op.DECRYPT, block), null);
    setContext(b.setter.fd, idx, k1);
    t.deepEqual(b.run(idx, Op.ENCRYPT, block), ecb(k1, block));
    setContext(b.setter.fd, idx, k2);
    t.deepEqual(b.run(idx, Op.ENCRYPT, block), ecb(k2, block), 'replaced');
    t.notDeepEqual(ecb(k1, block), ecb(k2, block));
    setContext(b.setter.fd, idx, null);
    t.is(b.run(idx, Op.ENCRYPT, block), null, 'cleared: fails');
    t.is(b.run(idx, Op.DECRYPT, block), null);
    t.notThrows(() => setContext(b.setter.fd, idx, null), 'clearing an empty slot is no error');
    setContext(b.setter.fd, idx, k1);
    t.deepEqual(b.run(idx, Op.DECRYPT, block), ecb(k1, block, true), 'set again');

    // the argument comes back with the key zeroed, whatever the outcome
    const ok = b.rawSet({ index: 3, op: CryptoOp.SET, key: k1 });
    t.deepEqual([ok.retval, ok.back.err, ok.back.key], [0, 0, Buffer.alloc(16)]);
    t.deepEqual(b.run(3, Op.ENCRYPT, block), ecb(k1, block), 'control: the key was there to use');
    const badOp = b.rawSet({ index: 3, op: 7, key: k2 });
    t.deepEqual([badOp.back.err, badOp.back.key], [-22, Buffer.alloc(16)]);
    t.deepEqual(b.run(3, Op.ENCRYPT, block), ecb(k1, block), 'a bad op changed nothing');
    const outOfRange = b.rawSet({ index: 2 * MAX_KEYS, op: CryptoOp.SET, key: k2 });
    t.deepEqual([outOfRange.back.err, outOfRange.back.key], [-34, Buffer.alloc(16)]);
    const e = t.throws(() => setContext(b.setter.fd, 2 * MAX_KEYS, k2), { instanceOf: CryptoContextError });
    t.is(e!.errno, 34);
    t.false(e!.message.includes(k2.toString('hex')), 'no key in the message');
  } finally {
    b.close();
  }
});

/** An image whose VIPs use `keys` (one encrypted config each, in order: the slots follow first use). */
function imageWith(keys: Buffer[]): Image {
  return {
    ...EMPTY_IMAGE,
    vips: keys.map((key, i) => [
      vipKey('192.0.2.10', 1000 + i),
      vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: [{ sid_len: 2, nonce_len: 6, flags: LbFlags.ENABLED | LbFlags.ENCRYPTED, key }] }),
    ]),
  };
}

privileged("publish()'s contexts hook: the target generation's slots get their keys, slots no longer used are cleared, the live one is left alone", (t) => {
  const b = new Blocks();
  try {
    const fdOf = (n: string) => b.kfunc.maps.get(n)!.fd;
    const hook = keyContexts(b.setter.fd);
    const [k1, k2, k3] = [crypto.randomBytes(16), crypto.randomBytes(16), crypto.randomBytes(16)];
    const block = crypto.randomBytes(16);
    const at = (gen: number, slot: number) => b.run(gen * MAX_KEYS + slot, Op.ENCRYPT, block);

    // k1 twice (one slot), then k2
    const g1 = publishImage(fdOf, imageWith([k1, k1, k2]), undefined, hook).gen;
    t.deepEqual([at(g1, 0), at(g1, 1), at(g1, 2)], [ecb(k1, block), ecb(k2, block), null]);
    t.deepEqual([at(1 - g1, 0), at(1 - g1, 1)], [null, null], 'the other generation got nothing');

    const g2 = publishImage(fdOf, imageWith([k2]), undefined, hook).gen;
    t.is(g2, 1 - g1);
    t.deepEqual([at(g2, 0), at(g2, 1)], [ecb(k2, block), null]);
    t.deepEqual([at(g1, 0), at(g1, 1)], [ecb(k1, block), ecb(k2, block)], 'the previous generation is untouched');

    // back into g1: its slot 1 (k2 before) is no longer used and is cleared
    t.is(publishImage(fdOf, imageWith([k3]), undefined, hook).gen, g1);
    t.deepEqual([at(g1, 0), at(g1, 1)], [ecb(k3, block), null]);

    // control: without the hook a publish leaves the target's contexts as they were (stale)
    t.is(publishImage(fdOf, imageWith([k1]), undefined).gen, g2);
    t.deepEqual(at(g2, 0), ecb(k2, block));
  } finally {
    b.close();
  }
});

/** A namespace with a veth pair (native XDP) and a private bpffs as the pin path. */
class Lab {
  readonly ns = new Netns('qs-aes');
  readonly fs = new TempBpffs();

  constructor() {
    this.ns.ip('link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
    this.ns.ip('link', 'set', 'veth0', 'up');
    this.ns.ip('link', 'set', 'veth1', 'up');
  }

  q(...args: string[]): CliResult {
    return cli(['--pin-path', this.fs.dir, ...args], { ns: this.ns.name });
  }

  pins(): string[] {
    return readdirSync(this.fs.dir).filter((f) => !f.endsWith('.debug')).sort();
  }

  destroy(): void {
    this.ns.destroy();
    this.fs.destroy();
  }
}

interface AesStatus {
  attached: { interface: string; aes: string; progId: number }[];
  aes: { kernelKfuncs: boolean; cipher: string; driver: string | null };
  generation: { seq: number; index: number } | null;
}

let lab: Lab | undefined;
test.before(() => {
  if (isRoot || inCI) lab = new Lab();
});
test.after.always(() => lab?.destroy());

const KFUNC_PINS = ['crypto-set', 'qs_aes_buf', 'qs_crypto'];
const serial = (title: string, impl: Parameters<typeof privileged>[1]) => privileged(title, impl, test.serial);

serial('attach --aes kfunc / table / auto: the program, its pins, status; every writer keeps the contexts; reset removes every pin', (t) => {
  const l = lab!;
  const status = () => cliJson<AesStatus>(l.q('status', '--json'));
  const key = crypto.randomBytes(16);
  const block = crypto.randomBytes(16);

  const k = cliJson<{ aes: string; program: string }>(l.q('attach', 'veth0', '--id', '0a0b', '--aes', 'kfunc', '--json'));
  t.like(k, { aes: 'kfunc', program: 'attached' });
  for (const p of KFUNC_PINS) t.true(l.pins().includes(p), `${p} pinned`);
  let s = status();
  t.deepEqual(s.attached.map((a) => a.aes), ['kfunc']);
  t.like(s.aes, { kernelKfuncs: true, cipher: 'ecb(aes)' });
  t.truthy(s.aes.driver, 'the driver is listed once a context exists');
  t.regex(l.q('status').stdout, new RegExp(`^aes: kfunc \\(ecb\\(aes\\): ${s.aes.driver!.replace(/[()]/g, '\\$&')}\\)$`, 'm'));

  // a writer (vips add, through PinnedState) makes the contexts of what it publishes
  const keyFile = path.join(tempDir('qs-aes-key'), 'key');
  writeFileSync(keyFile, `${key.toString('hex')}\n`, { mode: 0o600 });
  const add = l.q('vips', 'add', '192.0.2.10:443', '--cid', `quic-lb:sid=2,nonce=6,key-file=${keyFile}`);
  t.is(add.code, 0, add.stderr);
  const live = () => status().generation!.index;
  const b = new Blocks({ pinRootPath: l.fs.dir });
  try {
    t.deepEqual(b.run(live() * MAX_KEYS, Op.ENCRYPT, block), ecb(key, block), 'the live generation has the VIP key');
    t.is(b.run(live() * MAX_KEYS + 1, Op.ENCRYPT, block), null, 'control: an unused slot has none');
  } finally {
    b.close();
  }

  // pins removed by hand while the kfunc program runs: the next writer puts them back (the maps
  // from the program, the syscall program by loading the object again) and makes the contexts
  unlinkSync(path.join(l.fs.dir, 'qs_crypto'));
  unlinkSync(path.join(l.fs.dir, 'crypto-set'));
  const srv = l.q('servers', 'add', '0a0b', '--mac', '02:00:00:00:00:01');
  t.is(srv.code, 0, srv.stderr);
  for (const p of KFUNC_PINS) t.true(l.pins().includes(p), `${p} pinned again`);
  const repaired = new Blocks({ pinRootPath: l.fs.dir });
  try {
    t.deepEqual(repaired.run(live() * MAX_KEYS, Op.ENCRYPT, block), ecb(key, block), 'the new live generation has the VIP key');
  } finally {
    repaired.close();
  }

  // a second interface with the table: the kfunc pins stay while veth0 runs the kfunc program
  t.like(cliJson(l.q('attach', 'veth1', '--id', '0a0b', '--aes', 'table', '--json')), { aes: 'table', program: 'attached' });
  t.deepEqual(status().attached.map((a) => [a.interface, a.aes]).sort(), [['veth0', 'kfunc'], ['veth1', 'table']]);
  t.regex(l.q('status').stdout, /^aes: per interface, see AES below \(kfunc: ecb\(aes\): .+\)$/m);
  t.is(l.q('detach', 'veth1').code, 0);
  for (const p of KFUNC_PINS) t.true(l.pins().includes(p), `${p} still pinned`);

  // back to the table: the program is swapped in place and the kfunc pins go (nothing uses them)
  const tb = cliJson<{ aes: string; program: string }>(l.q('attach', 'veth0', '--id', '0a0b', '--aes', 'table', '--json'));
  t.like(tb, { aes: 'table', program: 'updated' });
  t.deepEqual(status().attached.map((a) => a.aes), ['table']);
  for (const p of KFUNC_PINS) t.false(l.pins().includes(p), `${p} removed`);
  t.regex(l.q('status').stdout, /^aes: table$/m);
  t.like(cliJson(l.q('attach', 'veth0', '--id', '0a0b', '--json')), { aes: 'table', program: 'unchanged' }, 'auto is the table');

  // and kfunc again: a new contexts map, so the configuration is published once more before the swap
  const seq = status().generation!.seq;
  t.like(cliJson(l.q('attach', 'veth0', '--id', '0a0b', '--aes', 'kfunc', '--json')), { aes: 'kfunc', program: 'updated' });
  s = status();
  t.is(s.generation!.seq, seq + 1, 'republished');
  t.deepEqual(s.attached.map((a) => a.aes), ['kfunc']);
  const again = new Blocks({ pinRootPath: l.fs.dir });
  try {
    t.deepEqual(again.run(s.generation!.index * MAX_KEYS, Op.ENCRYPT, block), ecb(key, block), 'the live generation has its contexts');
  } finally {
    again.close();
  }
  t.like(cliJson(l.q('attach', 'veth0', '--id', '0a0b', '--aes', 'kfunc', '--json')), { program: 'unchanged' });
  t.is(status().generation!.seq, seq + 1, 'an unchanged kfunc attach publishes nothing');

  // the kfunc interface detached, a table one left: the kfunc pins go with the last program that used them
  t.is(l.q('attach', 'veth1', '--id', '0a0b', '--aes', 'table').code, 0);
  t.is(l.q('detach', 'veth0').code, 0);
  t.deepEqual(status().attached.map((a) => [a.interface, a.aes]), [['veth1', 'table']]);
  for (const p of KFUNC_PINS) t.false(l.pins().includes(p), `${p} removed with the last kfunc program`);

  const r = cliJson<{ removed: string[] }>(l.q('reset', '--json'));
  for (const p of ['qs_vips', 'qs_keys', 'link-' + String(l.ns.enter(() => native().ifNameToIndex('veth1')))]) t.true(r.removed.includes(p), `reset removed ${p}`);
  t.deepEqual(l.pins(), []);
  t.is(l.ns.xdpProgId('veth1'), undefined);
  // and reset with the kfunc program attached removes its pins too
  t.is(l.q('attach', 'veth0', '--id', '0a0b', '--aes', 'kfunc').code, 0);
  const r2 = cliJson<{ removed: string[] }>(l.q('reset', '--json'));
  for (const p of KFUNC_PINS) t.true(r2.removed.includes(p), `reset removed ${p}`);
  t.deepEqual(l.pins(), []);
});

serial('apply: "aes" attaches with it, switches attached interfaces, and is left alone when absent', (t) => {
  const l = lab!;
  const dir = tempDir('qs-aes-apply');
  const file = (name: string, aes?: string) => {
    const f = path.join(dir, name);
    writeFileSync(f, JSON.stringify({ localId: '0a0b', interfaces: [{ name: 'veth0' }], ...(aes ? { aes } : {}) }));
    return f;
  };
  const status = () => cliJson<AesStatus>(l.q('status', '--json'));
  const apply = (f: string, ...more: string[]) => cliJson<{ changes: string[]; applied: boolean }>(l.q('apply', '-f', f, '--json', ...more));

  const kfunc = file('kfunc.json', 'kfunc');
  t.deepEqual(apply(kfunc, '--dry-run').changes, ['+ local id 0a0b', '+ attach veth0 (native, aes kfunc)']);
  t.deepEqual(l.pins(), [], 'a dry run attaches nothing');
  t.like(apply(kfunc), { applied: true });
  t.deepEqual(status().attached.map((a) => a.aes), ['kfunc']);
  for (const p of KFUNC_PINS) t.true(l.pins().includes(p), `${p} pinned`);
  t.deepEqual(apply(kfunc).changes, []);
  t.deepEqual(apply(file('none.json')).changes, [], 'no "aes": attachments keep theirs');

  const table = file('table.json', 'table');
  t.deepEqual(apply(table).changes, ['~ aes veth0 kfunc -> table']);
  t.deepEqual(status().attached.map((a) => a.aes), ['table']);
  for (const p of KFUNC_PINS) t.false(l.pins().includes(p), `${p} removed`);
  t.deepEqual(apply(file('auto.json', 'auto')).changes, [], 'auto is the table');
  t.deepEqual(apply(kfunc).changes, ['~ aes veth0 table -> kfunc']);
  t.deepEqual(status().attached.map((a) => a.aes), ['kfunc']);

  const bad = l.q('apply', '-f', file('bad.json', 'aesni'));
  t.is(bad.code, 2);
  t.regex(bad.stderr, /aes/);
  t.is(l.q('reset').code, 0);
  t.deepEqual(l.pins(), []);
});

serial('bad --aes is bad usage (exit 2) and changes nothing', (t) => {
  const l = lab!;
  const before = l.pins();
  const r = l.q('attach', 'veth0', '--id', '0a0b', '--aes', 'aesni');
  t.is(r.code, 2);
  t.regex(r.stderr, /^quicsteer: bad --aes 'aesni'/);
  t.deepEqual(l.pins(), before);
});
