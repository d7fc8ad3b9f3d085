// native/cidshim.c on chosen random bytes (test/native: a gnutls_rnd stand-in under the shim): the
// draft-21 vectors byte for byte, every sid/nonce split decoding with the reference (src/quic/quic-lb.ts),
// and each unusable configuration reported once on stderr with the CID left as drawn.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { decodeCidLb, encodeCid } from '../../src/quic/quic-lb.js';

const SHIM = path.join(ROOT, 'build/lib/libcidshim.so');
const PROBE = path.join(ROOT, 'build/test/rndprobe');
const KEY = '8f95f09245765f80256934e50c66207f';
const dir = tempDir('qs-shim');

function keyFile(name: string, text: string): string {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  chmodSync(f, 0o600);
  return f;
}

/** One 18-byte draw through the shim: the CID and the shim's stderr. */
function draw(drawn: Buffer, env: Record<string, string>, len = 18): { cid: Buffer; stderr: string } {
  const r = spawnSync(PROBE, [String(len), '1'], { encoding: 'utf8', env: { LD_PRELOAD: SHIM, QS_FAKE_RND: drawn.toString('hex'), ...env } });
  if (r.status !== 0) throw new Error(`rndprobe exited ${r.status}: ${r.stderr}`);
  return { cid: Buffer.from(r.stdout.trim(), 'hex'), stderr: r.stderr };
}

/** 18 drawn bytes with the nonce where the shim takes it (after the first octet and server ID). */
const drawnWith = (sidLen: number, nonce: Buffer) => Buffer.concat([randomBytes(1 + sidLen), nonce, randomBytes(17 - sidLen - nonce.length)]);

// Row 3 (sid 9 + nonce 9) needs a 19-byte CID: ngtcp2's 18 do not hold it.
const VECTORS = [
  { first: '07', sid: 'ed793a', nonce: 'ee080dbf', cid: '0720b1d07b359d3c' },
  { first: '2f', sid: 'ed793a51d49b8f5fab65', nonce: 'ee080dbf48', cid: '2fcc381bc74cb4fbad2823a3d1f8fed2' },
  { first: '50', sid: 'ed793a51d49b8f5f', nonce: 'ee080dbf48c0d1e5', cid: '504dd2d05a7b0de9b2b9907afb5ecf8cc3' },
];

test('the draft-21 vectors byte for byte (3 and 4 LB passes, single pass); octets past the nonce stay as drawn; without a key: plaintext', (t) => {
  const withNewline = keyFile('key-nl', `${KEY}\n`);
  const bare = keyFile('key-bare', KEY);
  for (const v of VECTORS) {
    const nonce = Buffer.from(v.nonce, 'hex');
    const drawn = drawnWith(v.sid.length / 2, nonce);
    const env = { QS_CID_FIRST_OCTET: v.first, QS_CID_SERVER_ID: v.sid, QS_CID_NONCE_LEN: String(nonce.length) };
    for (const file of [withNewline, bare]) {
      const { cid, stderr } = draw(drawn, { ...env, QS_CID_KEY_FILE: file });
      t.is(stderr, '');
      t.is(cid.subarray(0, v.cid.length / 2).toString('hex'), v.cid);
      t.deepEqual(cid.subarray(v.cid.length / 2), drawn.subarray(v.cid.length / 2));
    }
    // control: the same draw without a key is the plaintext layout
    t.is(draw(drawn, env).cid.toString('hex'), v.first + v.sid + v.nonce + drawn.subarray(v.cid.length / 2).toString('hex'));
  }
});

test('every server ID / nonce split that fits 18 octets (odd and even, 3 and 4 passes, single pass) decodes with the reference to the server ID and the drawn nonce', (t) => {
  const key = randomBytes(16);
  const file = keyFile('key-rand', key.toString('hex'));
  let n = 0;
  for (let sidLen = 1; sidLen <= 13; sidLen++)
    for (let nonceLen = 4; sidLen + nonceLen <= 17; nonceLen++) {
      const sid = randomBytes(sidLen);
      const nonce = randomBytes(nonceLen);
      const drawn = drawnWith(sidLen, nonce);
      const { cid } = draw(drawn, { QS_CID_FIRST_OCTET: '11', QS_CID_SERVER_ID: sid.toString('hex'), QS_CID_NONCE_LEN: String(nonceLen), QS_CID_KEY_FILE: file });
      const c = { cr: 0, sidLen, nonceLen, key };
      const d = decodeCidLb(c, cid);
      t.deepEqual([d.sid, d.nonce], [sid, nonce], `sid ${sidLen} nonce ${nonceLen}`);
      t.deepEqual(cid.subarray(1, 1 + sidLen + nonceLen), encodeCid(c, sid, nonce).subarray(1));
      n++;
    }
  // without QS_CID_NONCE_LEN the nonce is the rest: 17 - sid
  const sid = Buffer.from('0a0b', 'hex');
  const drawn = randomBytes(18);
  const { cid } = draw(drawn, { QS_CID_FIRST_OCTET: '11', QS_CID_SERVER_ID: '0a0b', QS_CID_KEY_FILE: file });
  t.deepEqual(decodeCidLb({ cr: 0, sidLen: 2, nonceLen: 15, key }, cid), { sid, nonce: drawn.subarray(3) });
  t.is(n, 91);
});

test('a configuration the shim cannot use: one line on stderr, no key material, the CID left as drawn; the same with a good key encrypts silently', (t) => {
  const good = keyFile('key-good', `${KEY}\n`);
  const keyDir = path.join(dir, 'a-directory');
  mkdirSync(keyDir);
  const base = { QS_CID_FIRST_OCTET: '11', QS_CID_SERVER_ID: '0a0b', QS_CID_KEY_FILE: good };
  const cases: [string, Record<string, string>, RegExp][] = [
    ['no key file', { QS_CID_KEY_FILE: path.join(dir, 'missing') }, /QS_CID_KEY_FILE \S+missing: No such file or directory/],
    ['key file is a directory', { QS_CID_KEY_FILE: keyDir }, /Is a directory/],
    ['a longer key', { QS_CID_KEY_FILE: keyFile('key-long', `${KEY}00\n`) }, /not 32 hex digits/],
    ['a shorter key', { QS_CID_KEY_FILE: keyFile('key-short', KEY.slice(0, 30)) }, /not 32 hex digits/],
    ['not hex', { QS_CID_KEY_FILE: keyFile('key-nothex', `${KEY.slice(0, 31)}g`) }, /not 32 hex digits/],
    ['two newlines', { QS_CID_KEY_FILE: keyFile('key-2nl', `${KEY}\n\n`) }, /not 32 hex digits/],
    ['nonce longer than fits', { QS_CID_NONCE_LEN: '16' }, /QS_CID_NONCE_LEN is not a number from 4 to 15/],
    ['nonce under 4', { QS_CID_NONCE_LEN: '3' }, /QS_CID_NONCE_LEN/],
    ['nonce not a number', { QS_CID_NONCE_LEN: '15x' }, /QS_CID_NONCE_LEN/],
    ['server ID not hex', { QS_CID_SERVER_ID: '0a0' }, /QS_CID_SERVER_ID/],
    ['server ID too long for a 4-octet nonce', { QS_CID_SERVER_ID: '00'.repeat(14) }, /QS_CID_SERVER_ID/],
    ['no first octet', { QS_CID_FIRST_OCTET: '' }, /QS_CID_FIRST_OCTET/],
  ];
  for (const [what, env, why] of cases) {
    const drawn = randomBytes(18);
    const { cid, stderr } = draw(drawn, { ...base, ...env });
    const lines = stderr.split('\n').filter(Boolean);
    t.is(lines.length, 1, what);
    t.regex(lines[0]!, /^cidshim: .*; connection IDs left random$/, what);
    t.regex(lines[0]!, why, what);
    t.false(stderr.toLowerCase().includes(KEY.slice(0, 8)), `${what}: no key material`);
    t.deepEqual(cid, drawn, `${what}: the CID is what gnutls_rnd drew`);
  }
  // control: the base configuration works, and says nothing
  const drawn = randomBytes(18);
  const ok = draw(drawn, base);
  t.is(ok.stderr, '');
  t.is(ok.cid[0], 0x11);
  t.notDeepEqual(ok.cid.subarray(1, 3), Buffer.from('0a0b', 'hex'), 'the server ID is not in clear');
  t.deepEqual(decodeCidLb({ cr: 0, sidLen: 2, nonceLen: 15, key: Buffer.from(KEY, 'hex') }, ok.cid).sid, Buffer.from('0a0b', 'hex'));
});

test('draws of other lengths, and any draw with no QS_CID_* set, are left as drawn, silently', (t) => {
  const drawn = randomBytes(32);
  const key = keyFile('key-other', KEY);
  const r16 = draw(drawn.subarray(0, 16), { QS_CID_FIRST_OCTET: '11', QS_CID_SERVER_ID: '0a0b', QS_CID_KEY_FILE: key }, 16);
  t.deepEqual(r16, { cid: drawn.subarray(0, 16), stderr: '' });
  const none = draw(drawn.subarray(0, 18), {});
  t.deepEqual(none, { cid: drawn.subarray(0, 18), stderr: '' });
  // control: an 18-byte draw with the same configuration is rewritten
  drawn[0] = 0;
  t.is(draw(drawn.subarray(0, 18), { QS_CID_FIRST_OCTET: '11', QS_CID_SERVER_ID: '0a0b', QS_CID_KEY_FILE: key }).cid[0], 0x11);
});
