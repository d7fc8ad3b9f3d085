// Open-addressed table placement: within the probe bound, no gaps, duplicates and overfull tables refused.
import test from 'ava';
import { PROBES } from '../../src/bpf/layout.js';
import { TableFullError, homeSlot, ipBytes, placeKeys, qsHash, sidKey, vipKey } from '../../src/datapath/tables.js';
import { ServerId } from '../../src/bpf/layout.js';

const key = (i: number) => ServerId.encode(sidKey(Buffer.from([i >> 8, i & 0xff])));

test('every key lands within PROBES of its home slot, with no empty slot on the way', (t) => {
  const slots = 64;
  const keys = Array.from({ length: 16 }, (_, i) => key(i));
  const placed = placeKeys(keys, slots, 'test');
  const taken = new Set(placed);
  t.is(taken.size, keys.length);
  keys.forEach((k, i) => {
    const home = homeSlot(k, slots);
    const dist = (placed[i]! - home + slots) % slots;
    t.true(dist < PROBES);
    for (let d = 0; d < dist; d++) t.true(taken.has((home + d) % slots), 'no gap before the key');
  });
});

test('capacity is a quarter of the slots; beyond it the table refuses', (t) => {
  t.notThrows(() => placeKeys(Array.from({ length: 16 }, (_, i) => key(i)), 64, 'servers'));
  const e = t.throws(() => placeKeys(Array.from({ length: 17 }, (_, i) => key(i)), 64, 'servers'), { instanceOf: TableFullError });
  t.is(e!.message, 'servers: 17 entries, the table holds 16');
});

test('a key with PROBES colliding neighbours is refused, not placed out of reach', (t) => {
  // find PROBES + 1 keys sharing one home slot in a 4096-slot table
  const slots = 4096;
  const byHome = new Map<number, Buffer[]>();
  let crowd: Buffer[] | undefined;
  for (let i = 0; !crowd; i++) {
    const k = key(i);
    const h = homeSlot(k, slots);
    const list = byHome.get(h) ?? [];
    list.push(k);
    byHome.set(h, list);
    if (list.length === PROBES + 1) crowd = list;
  }
  t.throws(() => placeKeys(crowd!, slots, 'servers'), { instanceOf: TableFullError, message: /collides with 8 others/ });
  t.notThrows(() => placeKeys(crowd!.slice(0, PROBES), slots, 'servers'));
});

test('duplicate keys are refused', (t) => {
  t.throws(() => placeKeys([key(1), key(2), key(1)], 64, 'servers'), { instanceOf: RangeError, message: /^servers: duplicate key 0200010+$/ });
});

test('qsHash hashes whole 32-bit little-endian words and spreads neighbours', (t) => {
  t.throws(() => qsHash(Buffer.alloc(6)), { instanceOf: RangeError });
  const homes = new Set(Array.from({ length: 1000 }, (_, i) => homeSlot(key(i), 4096)));
  t.true(homes.size > 850, `${homes.size} distinct homes for 1000 keys`);
});

test('addresses: IPv4 in the first 4 bytes, IPv6 in full; anything else refused', (t) => {
  t.deepEqual([...ipBytes('192.0.2.1').addr], [192, 0, 2, 1, ...Array(12).fill(0)]);
  t.is(ipBytes('2001:db8::1').addr.toString('hex'), '20010db8000000000000000000000001');
  t.is(ipBytes('::ffff:192.0.2.1').addr.toString('hex'), '00000000000000000000ffffc0000201');
  t.is(vipKey('2001:db8::1', 443).family, 6);
  t.throws(() => ipBytes('300.1.1.1'), { instanceOf: RangeError });
  t.throws(() => ipBytes('example.com'), { instanceOf: RangeError });
});
