// QUIC-LB (draft-ietf-quic-load-balancers-21): the draft's vectors byte for byte through the TS
// reference and `quicsteer cid encode/decode`, the AES schedules the XDP program uses, and key files.
import test from 'ava';
import { chmodSync, chownSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import path from 'node:path';
import { decodeCidLb, decryptSid, encodeCid } from '../../src/quic/quic-lb.js';
import { decryptBlock, encryptBlock, expandKey } from '../../src/quic/aes.js';
import { keyFingerprint, readKeyFile } from '../../src/control/keys.js';
import { formatSpec, parseSpec, specsToVip, vipToSpecs, withKeys } from '../../src/control/spec.js';
import { cli } from '../helpers/cli.js';
import { isRoot } from '../helpers/env.js';
import { tempDir } from '../helpers/tmp.js';
import { ENCRYPTED_VECTORS, VECTOR_KEY } from '../helpers/quic-lb-vectors.js';

const KEY = VECTOR_KEY;
const key = Buffer.from(KEY, 'hex');

const lb = (v: { cr: number; sid: string; nonce: string }, k?: Buffer) => ({ cr: v.cr, sidLen: v.sid.length / 2, nonceLen: v.nonce.length / 2, key: k });

test('the draft-21 encrypted vectors, byte for byte (encode, decode, passes)', (t) => {
  for (const v of ENCRYPTED_VECTORS) {
    t.is(encodeCid(lb(v, key), Buffer.from(v.sid, 'hex'), Buffer.from(v.nonce, 'hex')).toString('hex'), v.cid);
    const d = decryptSid(key, Buffer.from(v.cid, 'hex').subarray(1), v.sid.length / 2);
    t.deepEqual([d.sid.toString('hex'), d.passes], [v.sid, v.passes]);
    const whole = decodeCidLb(lb(v, key), Buffer.from(v.cid, 'hex'));
    t.deepEqual([whole.sid.toString('hex'), whole.nonce.toString('hex')], [v.sid, v.nonce]);
    // control: another key decodes another server ID
    t.not(decryptSid(randomBytes(16), Buffer.from(v.cid, 'hex').subarray(1), v.sid.length / 2).sid.toString('hex'), v.sid);
  }
});

test("the draft's worked 4-pass example (its step 10 prints b3e4357c for the AES output's b334357c)", (t) => {
  const k = Buffer.from('fdf726a9893ec05c0632d3956680baf0', 'hex');
  t.is(encodeCid({ cr: 0, sidLen: 3, nonceLen: 4, key: k }, Buffer.from('31441a', 'hex'), Buffer.from('9c69c275', 'hex')).toString('hex'), '0767947d29be054a');
});

test('plaintext vectors', (t) => {
  t.is(encodeCid({ cr: 0, sidLen: 3, nonceLen: 4 }, Buffer.from('c4605e', 'hex'), Buffer.from('4504cc4f', 'hex')).toString('hex'), '07c4605e4504cc4f');
  // -21's second plaintext row, "1 350d28b420 3487d970b 20a350d28b4203487d970b", is misprinted: as
  // bytes its CID is 20|a350d28b42|03487d970b, whose first octet carries cr 1 but length 0, and whose
  // server ID is shifted by a nibble. Read as intended (first octet 0x2a: cr 1, length 11 - 1; sid
  // 350d28b420; the 9-digit nonce is 03487d970b), the CID is 2a350d28b42003487d970b.
  const c = { cr: 1, sidLen: 5, nonceLen: 5 };
  t.is(encodeCid(c, Buffer.from('350d28b420', 'hex'), Buffer.from('03487d970b', 'hex')).toString('hex'), '2a350d28b42003487d970b');
  t.is(decodeCidLb(c, Buffer.from('20a350d28b4203487d970b', 'hex')).sid.toString('hex'), 'a350d28b42', 'the printed CID reads as the shifted ID');
});

test('every sid/nonce length round-trips, encrypted (odd and even, 1 to 4 passes)', (t) => {
  for (let sid = 1; sid <= 15; sid++)
    for (let nonce = 4; sid + nonce <= 19; nonce++) {
      const k = randomBytes(16);
      const s = randomBytes(sid);
      const n = randomBytes(nonce);
      const cid = encodeCid({ cr: sid % 7, sidLen: sid, nonceLen: nonce, key: k }, s, n);
      t.is(cid.length, 1 + sid + nonce);
      const d = decodeCidLb({ cr: sid % 7, sidLen: sid, nonceLen: nonce, key: k }, cid);
      t.true(d.sid.equals(s) && d.nonce.equals(n), `sid ${sid} nonce ${nonce}`);
      const fast = decryptSid(k, cid.subarray(1), sid);
      t.true(fast.sid.equals(s), `load-balancer decode, sid ${sid} nonce ${nonce}`);
      t.is(fast.passes, sid + nonce === 16 ? 1 : sid <= (sid + nonce) >> 1 ? 3 : 4);
    }
});

test("the key schedules the XDP program uses: T-table rounds equal node:crypto's AES-128", (t) => {
  for (let i = 0; i < 50; i++) {
    const k = i === 0 ? key : randomBytes(16);
    const { enc, dec } = expandKey(k);
    t.is(enc.length, 44);
    t.is(dec.length, 44);
    const block = randomBytes(16);
    const c = createCipheriv('aes-128-ecb', k, null).setAutoPadding(false);
    const want = c.update(block);
    t.true(encryptBlock(enc, block).equals(want));
    t.true(decryptBlock(dec, want).equals(block));
  }
  // FIPS-197 appendix A.1: the last round key of 2b7e1516 28aed2a6 abf71588 09cf4f3c
  t.deepEqual(expandKey(Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex')).enc.slice(40), [0xd014f9a8, 0xc9ee2589, 0xe13f0cc8, 0xb6630ca6]);
});

test('cid encode / decode: the contract of the README, byte for byte', (t) => {
  const as = isRoot ? { asUser: 65534 } : {};
  for (const v of ENCRYPTED_VECTORS) {
    const spec = `quic-lb:sid=${v.sid.length / 2},nonce=${v.nonce.length / 2},cr=${v.cr},key=${KEY}`;
    const enc = cli(['cid', 'encode', '--cid', spec, '--id', v.sid, '--nonce', v.nonce], as);
    t.is(enc.code, 0, enc.stderr);
    t.is(enc.stdout, `${v.cid}\n`);
    const dec = cli(['cid', 'decode', v.cid, '--cid', spec, '--json'], as);
    t.is(dec.code, 0, dec.stderr);
    t.deepEqual(JSON.parse(dec.stdout), { cid: v.cid, serverId: v.sid, nonce: v.nonce, configRotation: v.cr, encrypted: true, reason: null });
    t.false(enc.stdout.includes(KEY) || dec.stdout.includes(KEY) || enc.stderr.includes(KEY) || dec.stderr.includes(KEY));
  }
  // random nonces: two encodings differ, both decode
  const spec = `quic-lb:sid=3,nonce=13,key=${KEY}`;
  const a = cli(['cid', 'encode', '--cid', spec, '--id', '0a0b0c'], as).stdout.trim();
  const b = cli(['cid', 'encode', '--cid', spec, '--id', '0a0b0c'], as).stdout.trim();
  t.not(a, b);
  for (const c of [a, b]) t.is(cli(['cid', 'decode', c, '--cid', spec], as).stdout, '0a0b0c\n');
  // a config rotation codepoint with no config: unroutable
  t.is(cli(['cid', 'decode', `e0${a.slice(2)}`, '--cid', spec], as).stdout, 'unroutable (unroutable_cid)\n');
});

test('key files: 0600 and owned by root (or the user), hex only; the key itself never shows', (t) => {
  const dir = tempDir('qs-keys');
  const file = (name: string, text: string, mode = 0o600) => {
    const p = path.join(dir, name);
    writeFileSync(p, text, { mode });
    chmodSync(p, mode);
    return p;
  };
  const good = file('good', `${KEY}\n`);
  t.true(readKeyFile(good).equals(key));
  const spec = (p: string) => `quic-lb:sid=3,nonce=4,key-file=${p}`;
  t.is(cli(['cid', 'decode', '0720b1d07b359d3c', '--cid', spec(good)]).stdout, 'ed793a\n');
  const cases: [string, string, number, RegExp][] = [
    [file('open', KEY, 0o644), 'group or others', 2, /^quicsteer: key file \S+open: group or others may access it \(mode 0644\): chmod 600 \S+open\n$/],
    [file('short', 'abcd', 0o600), 'short', 2, /^quicsteer: key file \S+short: expected 32 hex digits \(a 16-byte AES-128 key\)\n$/],
    [file('text', `${KEY.slice(0, 30)}zz`, 0o600), 'not hex', 2, /expected 32 hex digits/],
    [path.join(dir, 'missing'), 'missing', 1, /^quicsteer: cannot read key file \S+missing: ENOENT/],
    [dir, 'a directory', 2, /not a regular file/],
  ];
  for (const [p, what, code, message] of cases) {
    const r = cli(['cid', 'decode', '0720b1d07b359d3c', '--cid', spec(p)]);
    t.is(r.code, code, what);
    t.regex(r.stderr, message, what);
    t.false(r.stderr.includes(KEY.slice(0, 30)), `${what}: no key text in the error`);
  }
  // a FIFO would block a plain read: refused at once; a symlink is followed to the file it names
  const fifo = path.join(dir, 'fifo');
  spawnSync('mkfifo', ['-m', '600', fifo]);
  t.regex(cli(['cid', 'decode', '0720b1d07b359d3c', '--cid', spec(fifo)]).stderr, /key file \S+fifo: not a regular file/);
  const link = path.join(dir, 'link');
  symlinkSync(good, link);
  t.is(cli(['cid', 'decode', '0720b1d07b359d3c', '--cid', spec(link)]).stdout, 'ed793a\n');
  const openLink = path.join(dir, 'open-link');
  symlinkSync(path.join(dir, 'open'), openLink);
  t.regex(cli(['cid', 'decode', '0720b1d07b359d3c', '--cid', spec(openLink)]).stderr, /group or others may access it \(mode 0644\)/);
  if (isRoot) {
    const other = file('other', KEY);
    chownSync(other, 65534, 65534);
    t.regex(cli(['cid', 'decode', '0720b1d07b359d3c', '--cid', spec(other)]).stderr, /owned by uid 65534, not by root: chown root/);
  }
  // standard input
  const r = cli(['cid', 'decode', '0720b1d07b359d3c', '--cid', spec('-')], { input: `${KEY}\n` });
  t.is(r.stdout, 'ed793a\n', r.stderr);
});

test('an encrypted config shows its key fingerprint, never the key; keys round-trip through the table value', (t) => {
  const [s] = withKeys([parseSpec(`quic-lb:sid=3,nonce=13,cr=2,key=${KEY}`, { inlineKey: true })]);
  const back = vipToSpecs(specsToVip([s!], 't'));
  t.true(back[0]!.kind === 'quic-lb' && back[0]!.key!.equals(key));
  t.is(formatSpec(back[0]!), `quic-lb:sid=3,nonce=13,cr=2,key-fingerprint=${keyFingerprint(key)}`);
  t.regex(keyFingerprint(key), /^[0-9a-f]{8}$/);
  t.not(keyFingerprint(key), keyFingerprint(randomBytes(16)));
  t.false(formatSpec(back[0]!).includes(KEY));
});
