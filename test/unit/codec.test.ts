// Struct codecs: C layout rules (alignment, tail padding), byte order, round trips, bad values.
import test from 'ava';
import { array, bytes, struct, u16, u32, u64, u8 } from '../../src/bpf/codec.js';
import { Config, Counter, Server, Vip, VipKey } from '../../src/bpf/layout.js';

test('fields align naturally and the struct pads to its widest member', (t) => {
  const s = struct('s', { a: u8, b: u32, c: u16, d: u64, e: u8 });
  t.deepEqual(s.fields.map((f) => f.offset), [0, 4, 8, 16, 24]);
  t.is(s.size, 32);
  t.is(s.align, 8);
});

test('nested structs and arrays take their own alignment', (t) => {
  const inner = struct('inner', { x: u16, y: u8 });
  t.is(inner.size, 4);
  const outer = struct('outer', { a: u8, i: inner, arr: array(u32, 3) });
  t.deepEqual(outer.fields.map((f) => [f.offset, f.size]), [[0, 1], [2, 4], [8, 12]]);
  t.is(outer.size, 20);
});

test('be16 is network order, u32 host (little-endian) order', (t) => {
  const b = VipKey.encode({ addr: Buffer.from([10, 0, 0, 1]), port: 4433, family: 4, pad: 0 });
  t.is(b.length, 20);
  t.deepEqual([...b.subarray(0, 4)], [10, 0, 0, 1]);
  t.deepEqual([...b.subarray(16, 18)], [0x11, 0x51]);
  const s = Server.encode({ mac: Buffer.from('020000000001', 'hex'), src_mac: Buffer.alloc(6), state: 0, pad: Buffer.alloc(3), ifindex: 7, slot: 9 });
  t.is(s.length, 24);
  t.deepEqual([...s.subarray(16, 24)], [7, 0, 0, 0, 9, 0, 0, 0]);
});

test('round trips keep every value', (t) => {
  const vip = {
    cid_format: 1,
    dcid_len: 8,
    sid_offset: 0,
    sid_len: 0,
    quic_lb: Array.from({ length: 7 }, (_, i) => ({ sid_len: i + 1, nonce_len: 4, flags: i % 2, pad: 0, key_slot: i, key: Buffer.alloc(16, i) })),
  };
  t.deepEqual(Vip.decode(Vip.encode(vip)), vip);
  const cfg = { local_id: { len: 2, id: Buffer.concat([Buffer.from([0xa, 0xb]), Buffer.alloc(13)]) }, seq: 2n ** 40n + 1n, state: 2, pad: 0 };
  t.deepEqual(Config.decode(Config.encode(cfg)), cfg);
  const c = { packets: 2n ** 63n + 5n, bytes: 123n };
  t.deepEqual(Counter.decode(Counter.encode(c)), c);
});

test('short byte arrays are zero padded; values out of range throw', (t) => {
  const k = VipKey.decode(VipKey.encode({ addr: Buffer.from([1]), port: 1, family: 4, pad: 0 }));
  t.deepEqual([...k.addr], [1, ...Array(15).fill(0)]);
  t.throws(() => VipKey.encode({ addr: Buffer.alloc(17), port: 1, family: 4, pad: 0 }), { instanceOf: RangeError });
  t.throws(() => VipKey.encode({ addr: Buffer.alloc(4), port: 65536, family: 4, pad: 0 }), { instanceOf: RangeError });
  t.throws(() => VipKey.encode({ addr: Buffer.alloc(4), port: 1.5, family: 4, pad: 0 }), { instanceOf: RangeError });
  t.throws(() => Vip.encode({ cid_format: 0, dcid_len: 0, sid_offset: 0, sid_len: 0, quic_lb: [] }), { instanceOf: RangeError });
  t.throws(() => Vip.decode(Buffer.alloc(8)), { instanceOf: RangeError });
  const missing = { addr: Buffer.alloc(4), port: 1, family: 4 } as unknown as Parameters<typeof VipKey.encode>[0];
  t.throws(() => VipKey.encode(missing), { instanceOf: TypeError, message: /pad is missing/ });
});

test('bytes() decodes to a copy, not a view of the input', (t) => {
  const src = Buffer.from([1, 2, 3, 4]);
  const v = bytes(4).read(src, 0);
  src[0] = 9;
  t.is(v[0], 1);
});
