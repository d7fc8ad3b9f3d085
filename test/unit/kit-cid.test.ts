// The CID kit's Node API (src/kit/cid.ts) imported as server authors do, by the package's name
// (`quicsteer/cid`, package.json "exports"): the draft-21 vectors, extra octets, its own randomness,
// CIDs `quicsteer cid decode` routes, and every bad option refused with a RangeError.
import test from 'ava';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { quicLbEncoder } from 'quicsteer/cid';
import * as relative from '../../src/kit/cid.js';
import { decodeCidLb, encodeCid } from '../../src/quic/quic-lb.js';
import { cli } from '../helpers/cli.js';
import { ROOT } from '../helpers/paths.js';
import { ENCRYPTED_VECTORS as ENCRYPTED, PLAINTEXT_VECTOR as PLAIN, VECTOR_KEY } from '../helpers/quic-lb-vectors.js';

const KEY = Buffer.from(VECTOR_KEY, 'hex');
const hex = (s: string) => Buffer.from(s, 'hex');

test("'quicsteer/cid' resolves through the package's exports to the built module", (t) => {
  t.is(fileURLToPath(import.meta.resolve('quicsteer/cid')), path.join(ROOT, 'build/dist/src/kit/cid.js'));
  t.is(quicLbEncoder, relative.quicLbEncoder, 'the same module instance as the relative import');
  // control: a path the package does not export is refused
  t.throws(() => import.meta.resolve('quicsteer/build/dist/src/quic/quic-lb.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
});

test('the draft-21 vectors, plaintext and encrypted, byte for byte', (t) => {
  const v = PLAIN;
  const e = quicLbEncoder({ cr: v.cr, sidLen: v.sid.length / 2, nonceLen: v.nonce.length / 2 });
  t.deepEqual([e.cidLen, e.randomLen], [8, 4]);
  t.is(e.encode(hex(v.sid), hex(v.nonce)).toString('hex'), v.cid);
  for (const v of ENCRYPTED) {
    const e = quicLbEncoder({ cr: v.cr, sidLen: v.sid.length / 2, nonceLen: v.nonce.length / 2, key: KEY });
    t.is(e.encode(hex(v.sid), hex(v.nonce)).toString('hex'), v.cid);
  }
  // control: another key, another CID
  const other = quicLbEncoder({ sidLen: 3, key: Buffer.alloc(16, 1) });
  t.not(other.encode(hex('ed793a'), hex('ee080dbf')).toString('hex'), ENCRYPTED[0]!.cid);
});

test('extra octets: the length bits say the whole CID, the octets follow the nonce unencrypted, the server ID decodes', (t) => {
  const sid = hex('0a0b');
  for (const key of [undefined, KEY]) {
    const e = quicLbEncoder({ cr: 2, sidLen: 2, nonceLen: 6, cidLen: 18, key });
    t.deepEqual([e.cidLen, e.randomLen], [18, 15]);
    const random = Buffer.from(Array.from({ length: 15 }, (_, i) => 0x40 + i));
    const cid = e.encode(sid, random);
    t.is(cid.length, 18);
    t.is(cid[0], (2 << 5) | 17);
    t.deepEqual(cid.subarray(9), random.subarray(6), 'extra octets as given');
    t.deepEqual(cid.subarray(1, 9), encodeCid({ cr: 2, sidLen: 2, nonceLen: 6, key }, sid, random.subarray(0, 6)).subarray(1), 'sid ‖ nonce as the reference encodes them');
    t.deepEqual(decodeCidLb({ cr: 2, sidLen: 2, nonceLen: 6, key }, cid), { sid, nonce: random.subarray(0, 6) });
  }
});

test('without random input: fresh octets from crypto.randomBytes, every CID different, every one routes to the server ID (quicsteer cid decode)', (t) => {
  const e = quicLbEncoder({ sidLen: 2, nonceLen: 6, cidLen: 12, key: KEY });
  const cids = Array.from({ length: 50 }, () => e.encode(hex('0a0b')));
  t.is(new Set(cids.map((c) => c.toString('hex'))).size, 50);
  for (const c of cids) t.deepEqual(decodeCidLb({ cr: 0, sidLen: 2, nonceLen: 6, key: KEY }, c).sid, hex('0a0b'));
  const spec = 'quic-lb:sid=2,nonce=6,key-file=-';
  for (const c of cids.slice(0, 3)) {
    const r = cli(['cid', 'decode', c.toString('hex'), '--cid', spec], { input: `${KEY.toString('hex')}\n` });
    t.is(r.stdout, '0a0b\n', r.stderr);
  }
  // control: another server's CID decodes to its own ID
  const r = cli(['cid', 'decode', e.encode(hex('0c0d')).toString('hex'), '--cid', spec], { input: `${KEY.toString('hex')}\n` });
  t.is(r.stdout, '0c0d\n', r.stderr);
});

test("the key is copied: reusing the caller's buffer changes nothing", (t) => {
  const key = Buffer.from(KEY);
  const e = quicLbEncoder({ sidLen: 3, key });
  key.fill(0);
  t.is(e.encode(hex('ed793a'), hex('ee080dbf')).toString('hex'), ENCRYPTED[0]!.cid);
});

test('bad options and inputs: a RangeError naming the value and its range', (t) => {
  const bad: [string, Parameters<typeof quicLbEncoder>[0], RegExp][] = [
    ['cr 7 (unroutable)', { cr: 7, sidLen: 2 }, /^cr must be an integer from 0 to 6, got 7$/],
    ['cr negative', { cr: -1, sidLen: 2 }, /^cr must be/],
    ['sid 0', { sidLen: 0 }, /^sidLen must be an integer from 1 to 15, got 0$/],
    ['sid 16', { sidLen: 16 }, /^sidLen must be an integer from 1 to 15/],
    ['sid not an integer', { sidLen: 2.5 }, /^sidLen must be an integer/],
    ['nonce 3', { sidLen: 2, nonceLen: 3 }, /^nonceLen must be an integer from 4 to 17, got 3$/],
    ['sid + nonce 20', { sidLen: 2, nonceLen: 18 }, /^nonceLen must be an integer from 4 to 17, got 18$/],
    ['cid shorter than sid + nonce', { sidLen: 2, nonceLen: 6, cidLen: 8 }, /^cidLen must be an integer from 9 to 20, got 8$/],
    ['cid 21', { sidLen: 2, nonceLen: 6, cidLen: 21 }, /^cidLen must be an integer from 9 to 20, got 21$/],
    ['key 15 bytes', { sidLen: 2, key: Buffer.alloc(15) }, /^key must be 16 bytes, got 15$/],
  ];
  for (const [what, o, message] of bad) t.throws(() => quicLbEncoder(o), { instanceOf: RangeError, message }, what);
  const e = quicLbEncoder({ sidLen: 2, nonceLen: 6, cidLen: 10 });
  t.throws(() => e.encode(hex('0a')), { instanceOf: RangeError, message: /server ID is 1 bytes, the config carries 2/ });
  t.throws(() => e.encode(hex('0a0b'), Buffer.alloc(6)), { instanceOf: RangeError, message: /^random is 6 bytes, the config takes 7$/ });
  // control: the limits themselves are accepted
  t.notThrows(() => quicLbEncoder({ cr: 6, sidLen: 15, nonceLen: 4, cidLen: 20, key: KEY }).encode(Buffer.alloc(15)));
  t.notThrows(() => quicLbEncoder({ sidLen: 1, nonceLen: 18 }).encode(Buffer.alloc(1)));
});
