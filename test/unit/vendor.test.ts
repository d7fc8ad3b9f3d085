// MsQuic and mvfst layouts byte for byte: the vendor encoders against vectors written out by hand from
// the servers' sources (MsQuic cid.h / library.c, mvfst DefaultConnectionIdAlgo.cpp), MsQuic's two
// server-ID settings as wire bytes, mvfst's shortest CIDs, and encode -> decode through the TS reference.
import test from 'ava';
import { decodeCid, decodeSid } from '../../src/quic/cid.js';
import {
  MSQUIC_CID_LEN, MVFST_CID_LEN, MVFST_MIN_CID_LEN, encodeMsquic, encodeMvfst, msquicServerIdFixed, msquicServerIdIp, msquicServerIdSettings,
  type MvfstVersion,
} from '../../src/quic/vendor.js';
import { parseSpec, specsToVip } from '../../src/control/spec.js';
import { ConfigFile, ServerIdHex } from '../../src/control/schemas.js';
import { DirectorFile } from '../../src/director/config.js';

const hex = (b: Buffer) => b.toString('hex');
const h = (s: string) => Buffer.from(s, 'hex');
const MSQUIC = specsToVip([parseSpec('msquic')], 't');
const MVFST = specsToVip([parseSpec('mvfst')], 't');
const sidOf = (r: ReturnType<typeof decodeCid>) => ('sid' in r ? hex(r.sid) : r.reason);

test('MsQuic SERVER_ID_FIXED: the uint32 goes on the wire little-endian (0x0a0b0c0d -> 0d0c0b0a)', (t) => {
  t.is(hex(msquicServerIdFixed(0x0a0b0c0d)), '0d0c0b0a');
  t.is(hex(msquicServerIdFixed(1)), '01000000');
  t.is(hex(msquicServerIdFixed(0)), '00000000');
  t.is(hex(msquicServerIdFixed(4294967295)), 'ffffffff');
  for (const n of [-1, 4294967296, 1.5, NaN]) t.throws(() => msquicServerIdFixed(n), { instanceOf: RangeError }, String(n));
});

test('MsQuic SERVER_ID_IP: IPv4 in network order, the last 4 bytes of IPv6', (t) => {
  t.is(hex(msquicServerIdIp('10.1.2.3')), '0a010203');
  t.is(hex(msquicServerIdIp('192.0.2.2')), 'c0000202');
  t.is(hex(msquicServerIdIp('2001:db8::a01:203')), '0a010203');
  t.is(hex(msquicServerIdIp('2001:db8::10.1.2.3')), '0a010203');
  t.is(hex(msquicServerIdIp('::ffff:10.1.2.3')), '0a010203');
  t.is(hex(msquicServerIdIp('fe80::a01:203%eth0')), '0a010203');
  t.throws(() => msquicServerIdIp('300.1.1.1'), { instanceOf: RangeError });
});

test('an MsQuic server ID read back as both settings', (t) => {
  t.deepEqual(msquicServerIdSettings(h('0a000005')), { ip: '10.0.0.5', fixed: 0x0500000a });
  t.deepEqual(msquicServerIdSettings(msquicServerIdFixed(0x0a0b0c0d)), { ip: '13.12.11.10', fixed: 0x0a0b0c0d });
});

test('MsQuic CID: 14 bytes, random octet, server ID in 1..4, partition (little-endian) in 5..6, payload 7..13', (t) => {
  const cid = encodeMsquic(msquicServerIdFixed(0x0a0b0c0d), { partition: 0x0102, random: Buffer.alloc(14, 0xee) });
  t.is(hex(cid), 'ee' + '0d0c0b0a' + '0201' + 'ee'.repeat(7));
  // without a partition the template's bytes 5..6 stay
  t.is(hex(encodeMsquic(h('c0000202'), { random: h('00112233445566778899aabbccdd') })), '00c000020255667788' + '99aabbccdd');
  // random by default: byte 0, the partition and the payload vary, the server ID does not
  const many = Array.from({ length: 32 }, () => encodeMsquic(h('0a010203')));
  t.true(many.every((c) => c.length === MSQUIC_CID_LEN && hex(c.subarray(1, 5)) === '0a010203'));
  for (const [from, to] of [[0, 1], [5, 7], [7, 14]] as const) t.true(new Set(many.map((c) => hex(c.subarray(from, to)))).size > 1, `bytes ${from}..${to - 1} random`);
  t.is(hex(encodeMsquic(h('0a010203'), { partition: 7 }).subarray(5, 7)), '0700');
  for (const bad of [() => encodeMsquic(h('0a0102')), () => encodeMsquic(h('0a010203'), { partition: 65536 }), () => encodeMsquic(h('0a010203'), { random: Buffer.alloc(8) })])
    t.throws(bad, { instanceOf: RangeError });
});

test('mvfst CIDs as DefaultConnectionIdAlgo writes them: version in bits 0..1, host ID after it', (t) => {
  // v1, host 0x1234 = 000100 10001101 00: byte 0 = 0x40 | 0x04, byte 1 = 0x8d, byte 2's top bits 00
  t.is(hex(encodeMvfst(1, 0x1234, Buffer.alloc(8, 0xff))), '448d3fffffffffff');
  t.is(hex(encodeMvfst(1, 0x1234, Buffer.alloc(8, 0x00))), '448d000000000000');
  t.is(hex(encodeMvfst(1, 0xffff, Buffer.alloc(8, 0x00))), '7fffc00000000000');
  // v2: byte 0's low six bits stay random, the 24-bit host in bytes 1..3
  t.is(hex(encodeMvfst(2, 0x123456, Buffer.alloc(8, 0xff))), 'bf123456ffffffff');
  // v3: the 32-bit host in bytes 1..4
  t.is(hex(encodeMvfst(3, 0x12345678, Buffer.alloc(8, 0x00))), 'c012345678000000');
  t.is(encodeMvfst(3, 1).length, MVFST_CID_LEN);
  for (const bad of [() => encodeMvfst(1, 0x10000), () => encodeMvfst(2, 0x1000000), () => encodeMvfst(3, 2 ** 32), () => encodeMvfst(0 as MvfstVersion, 1), () => encodeMvfst(1, 1, Buffer.alloc(7))])
    t.throws(bad, { instanceOf: RangeError });
});

test("mvfst's shortest CIDs: 4, 6, 7 bytes for v1, v2, v3; one byte less is none of mvfst's", (t) => {
  t.deepEqual(MVFST_MIN_CID_LEN, { 1: 4, 2: 6, 3: 7 });
  const hosts = { 1: 0x1234, 2: 0x123456, 3: 0x12345678 } as const;
  const ids = { 1: '1234', 2: '123456', 3: '12345678' } as const;
  for (const v of [1, 2, 3] as const) {
    const cid = encodeMvfst(v, hosts[v]);
    t.is(sidOf(decodeCid(cid, MVFST)), ids[v], `v${v}, 8 bytes`);
    t.is(sidOf(decodeCid(cid.subarray(0, MVFST_MIN_CID_LEN[v]), MVFST)), ids[v], `v${v}, ${MVFST_MIN_CID_LEN[v]} bytes`);
    t.is(sidOf(decodeCid(cid.subarray(0, MVFST_MIN_CID_LEN[v] - 1), MVFST)), 'UNROUTABLE_CID', `v${v}, ${MVFST_MIN_CID_LEN[v] - 1} bytes`);
  }
});

test('MsQuic CIDs decode to their server ID through the reference; a short header needs all 14 bytes', (t) => {
  for (const sid of [msquicServerIdIp('10.1.2.3'), msquicServerIdFixed(0x0a0b0c0d)]) {
    const cid = encodeMsquic(sid);
    t.is(sidOf(decodeCid(cid, MSQUIC)), hex(sid));
    const short = Buffer.concat([Buffer.from([0x41]), cid]);
    t.is(sidOf(decodeSid(short, { off: 1, len: null }, MSQUIC)), hex(sid));
    t.is(sidOf(decodeSid(short.subarray(0, 14), { off: 1, len: null }, MSQUIC)), 'MALFORMED');
  }
  // control: the older 5-byte short-header layout reads the same CID cut to 5 bytes
  t.is(sidOf(decodeSid(h('41' + 'ee0a010203'), { off: 1, len: null }, specsToVip([parseSpec('fixed:offset=1,len=4')], 't'))), '0a010203');
});

test('server IDs in every form: wire hex, msquic-ip, msquic-fixed (the same 4 bytes three ways)', (t) => {
  const ok: [string, string][] = [
    ['0a0b0c0d', '0a0b0c0d'],
    ['0X0A0B0C0D', '0a0b0c0d'],
    ['msquic-fixed:0x0d0c0b0a', '0a0b0c0d'],
    ['msquic-fixed:218893066', '0a0b0c0d'],
    ['MSQUIC-FIXED:0X0D0C0B0A', '0a0b0c0d'],
    ['msquic-ip:10.11.12.13', '0a0b0c0d'],
    ['msquic-ip:2001:db8::a0b:c0d', '0a0b0c0d'],
    ['msquic-fixed:0', '00000000'],
    ['msquic-fixed:4294967295', 'ffffffff'],
  ];
  for (const [input, wire] of ok) t.is(ServerIdHex.parse(input), wire, input);
  const bad: [string, RegExp][] = [
    ['msquic-fixed:4294967296', /^msquic-fixed: '4294967296' is not a uint32 \(FixedServerID: 0\.\.4294967295, decimal or 0x-hex\)$/],
    ['msquic-fixed:0x1g', /^msquic-fixed: '0x1g' is not a uint32/],
    ['msquic-fixed:-1', /is not a uint32/],
    ['msquic-fixed:', /is not a uint32/],
    ['msquic-fixed:0x100000000', /is not a uint32/],
    ['msquic-ip:300.1.1.1', /^msquic-ip: '300\.1\.1\.1' is not an IPv4 or IPv6 address/],
    ['msquic-ip:', /is not an IPv4 or IPv6 address/],
    ['msquic-address:10.0.0.1', /^unknown server ID form 'msquic-address:': give hex bytes as in the CID, msquic-ip:<address> or msquic-fixed:<uint32>$/],
    ['0a0b0', /^server ID must be 1\.\.15 bytes of hex/],
  ];
  for (const [input, message] of bad) {
    const r = ServerIdHex.safeParse(input);
    t.false(r.success, input);
    t.regex(r.error?.issues[0]?.message ?? '', message, input);
  }
});

test('the apply file and the director file take the same forms (localId, servers[].id, serverId)', (t) => {
  const cfg = ConfigFile.parse({ localId: 'msquic-ip:192.0.2.1', vips: [{ address: '192.0.2.10:443', cid: 'msquic' }], servers: [{ id: 'msquic-fixed:0x020200c0', mac: '02:00:00:00:00:02' }] });
  t.deepEqual([cfg.localId, cfg.servers[0]!.id], ['c0000201', 'c0000202']);
  const bad = ConfigFile.safeParse({ localId: 'msquic-fixed:4294967296' });
  t.regex(bad.error?.issues[0]?.message ?? '', /not a uint32/);
  const dir = DirectorFile.parse({ listeners: [{ vip: '198.51.100.10:4433', realServers: [{ address: '192.0.2.2', port: 4433, serverId: 'msquic-ip:192.0.2.2' }] }] });
  t.is(dir.listeners[0]!.realServers[0]!.serverId, 'c0000202');
});
