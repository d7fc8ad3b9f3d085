// The C CID kit (native/include/quicsteer/cid.h) byte for byte against the TS reference: its test driver
// (test/native/cidkit.c), built as C99, C11, C++ and C99 with ASan/UBSan, encodes the draft's vectors and
// thousands of seeded random requests (every QUIC-LB server ID / nonce split, plaintext and encrypted, every
// cr, extra octets; MsQuic; mvfst v1-v3; bare AES blocks; hex text), each compared with src/quic/quic-lb.ts
// (through src/kit/cid.ts for extra octets), node:crypto, or the layout written out here, and decoded by the
// product's decoder (src/quic/cid.ts). Bad requests: the error codes, and never a write past the buffer.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { MAX_CID_LEN, MAX_SID_LEN, LB_MAX_PLAIN } from '../../src/bpf/layout.js';
import { parseSpec, specsToVip } from '../../src/control/spec.js';
import { quicLbEncoder } from '../../src/kit/cid.js';
import { decodeCid } from '../../src/quic/cid.js';
import { LB_MIN_NONCE, encodeCid } from '../../src/quic/quic-lb.js';
import { encodeMsquic, encodeMvfst } from '../../src/quic/vendor.js';
import { Rng } from '../helpers/fuzz.js';
import { ROOT } from '../helpers/paths.js';
import { ENCRYPTED_VECTORS, PLAINTEXT_VECTOR, VECTOR_KEY } from '../helpers/quic-lb-vectors.js';
import { tempDir } from '../helpers/tmp.js';

const BUILDS = ['c99', 'c11', 'cxx', 'asan'];
const driver = (build: string) => path.join(ROOT, 'build/test', `cidkit-${build}`);
const hex = (b: Buffer) => (b.length ? b.toString('hex') : '-');
const SEED = 0x16c1d;
// random requests per QUIC-LB split and mode; and of the other kinds
const LB_REPS = 12;
const OTHER = 500;

/** One request line and the line the driver must answer; `sid`: the server ID the CID routes to (hex), or null. */
interface Case {
  line: string;
  want: string;
  sid: string | null;
  vip?: () => ReturnType<typeof specsToVip>;
}

function run(build: string, lines: string[]): { out: string[]; code: number | null; stderr: string } {
  const r = spawnSync(driver(build), [], { input: `${lines.join('\n')}\n`, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { out: r.stdout.split('\n').slice(0, -1), code: r.status, stderr: r.stderr };
}

/** Indices of the cases whose answer differs (a missing or extra line counts). */
function mismatches(got: string[], cases: Case[]): number[] {
  const bad = cases.flatMap((c, i) => (got[i] === c.want ? [] : [i]));
  return got.length === cases.length ? bad : [...bad, -1];
}

const lbLine = (cap: number, cr: number, sidLen: number, nonceLen: number, cidLen: number, key: Buffer | undefined, sid: Buffer, random: Buffer) =>
  `lb ${cap} ${cr} ${sidLen} ${nonceLen} ${cidLen} ${key ? hex(key) : '-'} ${hex(sid)} ${hex(random)}`;

/** Every server ID / nonce split the draft allows, plaintext and encrypted, LB_REPS times each. */
function quicLbCases(rng: Rng): Case[] {
  const out: Case[] = [];
  for (let sidLen = 1; sidLen <= MAX_SID_LEN; sidLen++)
    for (let nonceLen = LB_MIN_NONCE; sidLen + nonceLen <= LB_MAX_PLAIN; nonceLen++)
      for (const encrypted of [false, true])
        for (let rep = 0; rep < LB_REPS; rep++) {
          const min = 1 + sidLen + nonceLen;
          // the first two: the shortest CID (given as 0, the default, then explicitly), then any length
          const cidLen = rep < 2 ? min : rng.int(min, MAX_CID_LEN);
          const cr = rng.int(0, 6);
          const key = encrypted ? rng.bytes(16) : undefined;
          const sid = rng.bytes(sidLen);
          const random = rng.bytes(cidLen - 1 - sidLen);
          const conf = { cr, sidLen, nonceLen, key };
          const want = cidLen === min ? encodeCid(conf, sid, random) : quicLbEncoder({ ...conf, cidLen }).encode(sid, random);
          out.push({
            line: lbLine(cidLen, cr, sidLen, nonceLen, rep === 0 ? 0 : cidLen, key, sid, random),
            want: want.toString('hex'),
            sid: sid.toString('hex'),
            vip: () => specsToVip([{ kind: 'quic-lb', sid: sidLen, nonce: nonceLen, cr, key }], 'cidkit'),
          });
        }
  return out;
}

/** MsQuic against src/quic/vendor.ts: the kit takes random[0] and random[1..7] for octets 0 and 7..13. */
function msquicCases(rng: Rng): Case[] {
  return Array.from({ length: OTHER }, (_, i) => {
    const sid = rng.bytes(4);
    const partition = i === 0 ? 0 : i === 1 ? 0xffff : rng.int(0, 0xffff);
    const random = rng.bytes(8);
    const want = encodeMsquic(sid, { partition, random: Buffer.concat([random.subarray(0, 1), Buffer.alloc(6), random.subarray(1)]) });
    return { line: `msquic 14 ${hex(sid)} ${partition} ${hex(random)}`, want: want.toString('hex'), sid: sid.toString('hex'), vip: () => specsToVip([parseSpec('msquic')], 'cidkit') };
  });
}

/** mvfst against src/quic/vendor.ts: both write the version and host ID over the 8 random octets. */
function mvfstCases(rng: Rng): Case[] {
  const out: Case[] = [];
  for (const version of [1, 2, 3] as const) {
    const max = [0, 0xffff, 0xffffff, 0xffffffff][version]!;
    for (let i = 0; i < OTHER; i++) {
      const host = i === 0 ? 0 : i === 1 ? max : rng.int(0, max);
      const random = rng.bytes(8);
      const sid = Buffer.alloc(version + 1);
      sid.writeUIntBE(host, 0, version + 1);
      out.push({ line: `mvfst 8 ${version} ${host} ${hex(random)}`, want: encodeMvfst(version, host, random).toString('hex'), sid: sid.toString('hex'), vip: () => specsToVip([parseSpec('mvfst')], 'cidkit') });
    }
  }
  return out;
}

/** Bare AES-128 blocks against node:crypto. */
function aesCases(rng: Rng): Case[] {
  return Array.from({ length: OTHER * 2 }, () => {
    const key = rng.bytes(16);
    const block = rng.bytes(16);
    const c = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
    return { line: `aes ${hex(key)} ${hex(block)}`, want: c.update(block).toString('hex'), sid: null };
  });
}

/** qscid_hex_decode: mixed-case hex into a buffer of its size or more, against Buffer.from. */
function hexCases(rng: Rng): Case[] {
  return Array.from({ length: OTHER }, () => {
    const bytes = rng.bytes(rng.int(0, 20));
    const text = [...bytes.toString('hex')].map((ch) => (rng.chance(0.5) ? ch.toUpperCase() : ch)).join('');
    return { line: `hex ${bytes.length + rng.int(0, 4)} ${text || '-'}`, want: bytes.toString('hex'), sid: null };
  });
}

const rng = new Rng(SEED);
const CASES = { 'quic-lb': quicLbCases(rng), msquic: msquicCases(rng), mvfst: mvfstCases(rng), aes: aesCases(rng), hex: hexCases(rng) };
const ALL = Object.values(CASES).flat();

test('the draft-21 vectors (plaintext, encrypted: 3 and 4 LB passes, single block) and FIPS-197 C.1, in every build', (t) => {
  const key = Buffer.from(VECTOR_KEY, 'hex');
  const b = (s: string) => Buffer.from(s, 'hex');
  const v = PLAINTEXT_VECTOR;
  const cases: Case[] = [
    { line: lbLine(20, v.cr, 3, 4, 0, undefined, b(v.sid), b(v.nonce)), want: v.cid, sid: v.sid },
    ...ENCRYPTED_VECTORS.map((v) => ({ line: lbLine(20, v.cr, v.sid.length / 2, v.nonce.length / 2, 0, key, b(v.sid), b(v.nonce)), want: v.cid, sid: v.sid })),
    { line: 'aes 000102030405060708090a0b0c0d0e0f 00112233445566778899aabbccddeeff', want: '69c4e0d86a7b0430d8cdb78070b4c55a', sid: null },
  ];
  for (const build of BUILDS) {
    const r = run(build, cases.map((c) => c.line));
    t.is(r.code, 0, `${build}: ${r.stderr}`);
    t.deepEqual(r.out, cases.map((c) => c.want), build);
  }
});

test('thousands of seeded random requests: every CID byte for byte as the TS reference, in every build; a corrupted request is caught', (t) => {
  const counts = Object.fromEntries(Object.entries(CASES).map(([k, v]) => [k, v.length]));
  // 120 QUIC-LB splits x plaintext/encrypted x LB_REPS; MsQuic; mvfst v1..v3; AES blocks; hex texts
  t.deepEqual(counts, { 'quic-lb': 120 * 2 * LB_REPS, msquic: OTHER, mvfst: 3 * OTHER, aes: 2 * OTHER, hex: OTHER });
  t.log(`seed ${SEED}: ${ALL.length} requests (${Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ')}) x ${BUILDS.length} builds`);
  const lines = ALL.map((c) => c.line);
  for (const build of BUILDS) {
    const r = run(build, lines);
    t.is(r.code, 0, `${build}: ${r.stderr}`);
    t.is(r.stderr, '', build);
    t.deepEqual(mismatches(r.out, ALL), [], `${build}: every answer as the reference's`);
  }
  // control: one request's nonce differs by one bit from what the reference encoded: that one, and only it, mismatches
  const k = CASES['quic-lb'].findIndex((c) => c.line.split(' ')[6] !== '-');
  const f = lines[k]!.split(' ');
  f[8] = (parseInt(f[8]!.slice(0, 2), 16) ^ 1).toString(16).padStart(2, '0') + f[8]!.slice(2);
  const corrupted = [...lines];
  corrupted[k] = f.join(' ');
  t.deepEqual(mismatches(run('c99', corrupted).out, ALL), [k]);
});

test('every CID the kit makes routes to its server ID with the product decoder (src/quic/cid.ts, as the XDP program decodes)', (t) => {
  const routed = ALL.filter((c) => c.sid !== null);
  const out = run('c99', routed.map((c) => c.line)).out;
  let n = 0;
  for (const [i, c] of routed.entries()) {
    const got = decodeCid(Buffer.from(out[i]!, 'hex'), c.vip!());
    if (!('sid' in got) || got.sid.toString('hex') !== c.sid) t.fail(`${c.line}: ${JSON.stringify(got)}`);
    else n++;
  }
  t.is(n, routed.length);
  t.is(n, 120 * 2 * LB_REPS + OTHER + 3 * OTHER);
  // control: a plaintext CID whose server ID octet is changed routes elsewhere
  const c = CASES['quic-lb'][0]!;
  const cid = Buffer.from(out[0]!, 'hex');
  cid[1]! ^= 0x80;
  t.not((decodeCid(cid, c.vip!()) as { sid: Buffer }).sid.toString('hex'), c.sid);
});

test('bad requests: an error code and no CID; with the buffer one octet short, no octet written past it', (t) => {
  const z = (n: number) => Buffer.alloc(n);
  const E = { param: 'error -1 parameter out of range', space: 'error -2 output buffer too short', len: 'error -3 server ID or random input of the wrong length' };
  const cases: [string, string, string][] = [
    ['cr 7 (unroutable)', lbLine(20, 7, 2, 4, 0, undefined, z(2), z(4)), E.param],
    ['server ID 0 octets', lbLine(20, 0, 0, 4, 0, undefined, z(0), z(4)), E.param],
    ['server ID 16 octets', lbLine(20, 0, 16, 4, 0, undefined, z(16), z(4)), E.param],
    ['nonce 3 octets', lbLine(20, 0, 2, 3, 0, undefined, z(2), z(3)), E.param],
    ['server ID + nonce 20', lbLine(20, 0, 2, 18, 0, undefined, z(2), z(18)), E.param],
    ['CID 21 octets', lbLine(21, 0, 2, 4, 21, undefined, z(2), z(18)), E.param],
    ['CID shorter than server ID + nonce', lbLine(20, 0, 2, 6, 8, undefined, z(2), z(6)), E.param],
    ['server ID shorter than configured', lbLine(20, 0, 2, 4, 0, undefined, z(1), z(4)), E.len],
    ['random shorter than the nonce', lbLine(20, 0, 2, 4, 0, undefined, z(2), z(3)), E.len],
    ['random longer than the CID holds', lbLine(20, 0, 2, 4, 10, undefined, z(2), z(8)), E.len],
    ['QUIC-LB plaintext, one octet short', lbLine(6, 0, 2, 4, 0, undefined, z(2), z(4)), E.space],
    ['QUIC-LB encrypted, one octet short', lbLine(16, 0, 3, 13, 0, z(16), z(3), z(13)), E.space],
    ['QUIC-LB extra octets, one short', lbLine(19, 0, 2, 4, 20, z(16), z(2), z(17)), E.space],
    ['QUIC-LB, no room', lbLine(0, 0, 2, 4, 0, undefined, z(2), z(4)), E.space],
    ['MsQuic, one octet short', 'msquic 13 0a0b0c0d 1 0000000000000000', E.space],
    ['MsQuic server ID 3 octets', 'msquic 14 0a0b0c 1 0000000000000000', E.len],
    ['MsQuic random 7 octets', 'msquic 14 0a0b0c0d 1 00000000000000', E.len],
    ['mvfst, one octet short', 'mvfst 7 2 1 0000000000000000', E.space],
    ['mvfst version 0', 'mvfst 8 0 1 0000000000000000', E.param],
    ['mvfst version 4', 'mvfst 8 4 1 0000000000000000', E.param],
    ['mvfst v1 host ID 0x10000', `mvfst 8 1 ${0x10000} 0000000000000000`, E.param],
    ['mvfst v2 host ID 0x1000000', `mvfst 8 2 ${0x1000000} 0000000000000000`, E.param],
    ['mvfst random 9 octets', 'mvfst 8 3 1 000000000000000000', E.len],
  ];
  for (const build of BUILDS) {
    const r = run(build, cases.map((c) => c[1]));
    t.is(r.code, 0, `${build}: ${r.stderr}`);
    t.deepEqual(r.out, cases.map((c) => c[2]), build);
  }
  // control: the watch past the buffer sees a write there (the driver writes one octet too many on purpose)
  const over = run('c99', ['overflow 7']);
  t.deepEqual([over.code, over.out], [1, ['overflow']]);
  // control: the same requests with the room they need encode
  const ok = run('c99', ['lb 8 0 2 4 0 - 0a0b 00000000', 'msquic 14 0a0b0c0d 1 0000000000000000', 'mvfst 8 2 1 0000000000000000']);
  t.deepEqual(ok.out, ['060a0b00000000', '000a0b0c0d010000000000000000', '8000000100000000']);
});

test('hex text (key files): every printable ASCII character either a digit of its value or refused; odd lengths and too long refused', (t) => {
  const lines: string[] = [];
  const want: string[] = [];
  for (let c = 0x21; c <= 0x7e; c++) {
    const ch = String.fromCharCode(c);
    const v = /[0-9a-f]/i.test(ch) ? parseInt(ch, 16) : -1;
    lines.push(`hex 1 0${ch}`, `hex 1 ${ch}0`);
    want.push(...(v < 0 ? ['error -4 not hex digits', 'error -4 not hex digits'] : [`0${v.toString(16)}`, `${v.toString(16)}0`]));
  }
  const cases: [string, string][] = [
    ['hex 2 abc', 'error -3 server ID or random input of the wrong length'],
    ['hex 1 abcd', 'error -3 server ID or random input of the wrong length'],
    ['hex 16 8f95f09245765f80256934e50c66207g', 'error -4 not hex digits'],
    ['hex 2 é', 'error -4 not hex digits'],
    ['hex 16 8F95F09245765F80256934E50C66207F', '8f95f09245765f80256934e50c66207f'],
  ];
  for (const [l, w] of cases) lines.push(l), want.push(w);
  for (const build of BUILDS) {
    const r = run(build, lines);
    t.is(r.code, 0, `${build}: ${r.stderr}`);
    t.deepEqual(r.out, want, build);
  }
  t.is(want.filter((w) => !w.startsWith('error')).length, 2 * 22 + 1, '0-9, a-f and A-F, each in both places, and the key');
});

test('a request line the driver cannot read: one line on stderr, exit 2', (t) => {
  for (const line of ['lb 20 0 2 4', 'lb 20 0 2 4 0 - 0a0 00000000', 'aes 00 00', 'frobnicate 1', 'mvfst 99 1 1 00', 'lb x 0 2 4 0 - 0a0b 00000000']) {
    const r = run('c99', ['lb 8 0 2 4 0 - 0a0b 00000000', line]);
    t.is(r.code, 2, line);
    t.deepEqual(r.stderr.split('\n').filter(Boolean), ['cidkit: line 2: not a request'], line);
  }
});

test('the header alone compiles without a warning under strict flags: gcc C99 and C11, g++ C++11 and C++17, clang C11 and C++17 -Weverything', (t) => {
  const dir = tempDir('qs-cidkit');
  const inc = path.join(ROOT, 'native/include');
  const tu = path.join(dir, 'tu.c');
  writeFileSync(tu, '#include <quicsteer/cid.h>\nstatic const uint8_t key[16] = {0};\nint main(void) { qscid_quic_lb lb; return qscid_quic_lb_init(&lb, 0, 2, 4, 0, key); }\n');
  const gccFlags = ['-Wall', '-Wextra', '-Werror', '-pedantic', '-Wshadow', '-Wconversion', '-Wsign-conversion', '-Wcast-qual', '-Wundef'];
  const compilers: [string, string[]][] = [
    ['gcc', ['-std=c99', ...gccFlags, '-Wstrict-prototypes', '-Wmissing-prototypes']],
    ['gcc', ['-std=c11', ...gccFlags, '-Wstrict-prototypes', '-Wmissing-prototypes']],
    ['g++', ['-x', 'c++', '-std=c++11', ...gccFlags, '-Wold-style-cast', '-Wuseless-cast']],
    ['g++', ['-x', 'c++', '-std=c++17', ...gccFlags, '-Wold-style-cast', '-Wuseless-cast']],
    ['clang', ['-std=c11', '-Weverything', '-Werror', '-Wno-padded']],
    // a C header's casts are C casts; padding is the compiler's
    ['clang', ['-x', 'c++', '-std=c++17', '-Weverything', '-Werror', '-Wno-padded', '-Wno-c++98-compat', '-Wno-old-style-cast']],
  ];
  for (const [cc, flags] of compilers) {
    const r = spawnSync(cc, [...flags, '-fsyntax-only', `-I${inc}`, tu], { encoding: 'utf8' });
    t.is(r.status, 0, `${cc} ${flags.join(' ')}: ${r.stderr}`);
    t.is(r.stderr, '', `${cc} ${flags.join(' ')}`);
  }
  // control: the same flags reject a translation unit with an implicit narrowing conversion
  writeFileSync(tu, '#include <quicsteer/cid.h>\nint main(void) { uint8_t x = 0; size_t n = 300; x = n; return x; }\n');
  t.not(spawnSync('gcc', [...compilers[0]![1], '-fsyntax-only', `-I${inc}`, tu]).status, 0);
});
