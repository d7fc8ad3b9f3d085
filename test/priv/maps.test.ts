// Loads the real object and drives its maps and program through the typed layer (needs root).
import { ObjectSpec, BpfMap, PerCpuMap, ClosedError, XdpAction, isNativeError, type Collection } from '../../src/bpf/index.js';
import { Counter, Family, Reason, REASON_MAX, Vip, VipKey, ServerId, Server, Config, type VipT, type CounterT } from '../../src/bpf/layout.js';
import { whole } from '../../src/bpf/codec.js';
import { NO_CID_VIP } from '../../src/datapath/tables.js';
import { u32 } from '../../src/bpf/codec.js';
import { native } from '../../src/bpf/native.js';
import { BPF_OBJ, TEST_OBJ, privileged } from '../helpers/env.js';
import { EMPTY_IMAGE, publishImage } from '../../src/datapath/install.js';
import { be16, bytes, struct, u16, u64, u8 } from '../../src/bpf/codec.js';
import { eth, ipv4, ipv4Packet, udp, udp4Frame, MAC_A, MAC_B } from '../helpers/packets.js';

const U32 = whole(u32);
// test_hash in test/bpf/test_xdp.bpf.c
const TestKey = struct('test_key', { id: u32, port: be16, family: u8, pad: u8 });
const TestValue = struct('test_value', { count: u64, mac: bytes(6), flags: u16 });
const tkey = (id: number, port = 443) => ({ id, port, family: 4, pad: 0 });
const tval = (count: number, flags = 0) => ({ count: BigInt(count), mac: Buffer.from([2, 0, 0, 0, 0, count & 0xff]), flags });

function loadTest(): Collection {
  return ObjectSpec.open(TEST_OBJ).load();
}
const noVip: VipT = NO_CID_VIP;
const vip4 = (addr: string, port: number) => ({ addr: ipv4(addr), port, family: Family.IPV4, pad: 0 });

function load(): Collection {
  return ObjectSpec.open(BPF_OBJ).load();
}

function sum(cs: CounterT[]): CounterT {
  return cs.reduce((a, c) => ({ packets: a.packets + c.packets, bytes: a.bytes + c.bytes }), { packets: 0n, bytes: 0n });
}

/** Packets counted per reason (non-zero ones), summed over CPUs. */
function reasons(stats: PerCpuMap<number, CounterT>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, i] of Object.entries(Reason)) {
    const n = Number(sum(stats.lookup(i)!).packets);
    if (n) out[name] = n;
  }
  return out;
}

privileged('typed hash map: update, lookup, iterate, delete, update modes', (t) => {
  const c = loadTest();
  try {
    const m = c.map('test_hash', TestKey, TestValue);
    t.is(m.lookup(tkey(1)), undefined);
    m.update(tkey(1), tval(10, 3));
    m.update(tkey(2, 4433), tval(20));
    t.deepEqual(m.lookup(tkey(1)), tval(10, 3));
    t.deepEqual([...m.keys()].map((k) => `${k.id}:${k.port}`).sort(), ['1:443', '2:4433']);
    t.is([...m.entries()].length, 2);

    const exists = t.throws(() => m.update(tkey(1), tval(0), 'noexist'));
    t.true(isNativeError(exists));
    t.like(exists as object, { code: 'EEXIST', syscall: 'bpf_map_update_elem' });
    t.throws(() => m.update(tkey(9), tval(0), 'exist'), { code: 'ENOENT' } as object);

    t.true(m.delete(tkey(1)));
    t.false(m.delete(tkey(1)));
    t.is([...m.keys()].length, 1);
  } finally {
    c.close();
  }
});

privileged('batch update, lookup and delete', (t) => {
  const c = loadTest();
  try {
    const m = c.map('test_hash', TestKey, TestValue);
    const entries = Array.from({ length: 300 }, (_, i) => [tkey(i), tval(i)] as [ReturnType<typeof TestKey.decode>, ReturnType<typeof TestValue.decode>]);
    t.is(m.updateBatch(entries), 300);
    const got = m.lookupBatch(64);
    t.is(got.length, 300);
    t.deepEqual(new Map(got.map(([k, v]) => [k.id, v])).get(258), tval(258));
    t.is(m.deleteBatch(entries.slice(0, 100).map(([k]) => k)), 100);
    t.is([...m.keys()].length, 200);
  } finally {
    c.close();
  }
});

privileged('array and per-CPU maps: one value per possible CPU', (t) => {
  const c = load();
  try {
    const config = c.map('qs_config', U32, Config);
    t.deepEqual(config.lookup(0), { local_id: { len: 0, id: Buffer.alloc(15) }, seq: 0n, state: 0, pad: 0 });
    config.update(1, { local_id: { len: 1, id: Buffer.from([7]) }, seq: 3n, state: 2, pad: 0 });
    t.is(config.lookup(1)!.local_id.id[0], 7);
    t.throws(() => config.update(2, config.lookup(0)!), { code: 'E2BIG' } as object);

    const stats = c.perCpuMap('qs_stats', U32, Counter);
    t.is(stats.cpus, native().numPossibleCpus());
    t.is(stats.lookup(0)!.length, stats.cpus);
    const per = Array.from({ length: stats.cpus }, (_, i) => ({ packets: BigInt(i + 1), bytes: 100n }));
    stats.update(1, per);
    t.deepEqual(stats.lookup(1), per);
    t.is(stats.lookup(REASON_MAX), undefined);
    t.throws(() => stats.update(1, [per[0]!]), { instanceOf: RangeError });
    // a batch: one value for all CPUs, or one per CPU, per key
    const zero = { packets: 0n, bytes: 0n };
    t.is(stats.updateBatch([[1, zero], [2, per], [3, zero]]), 3);
    t.deepEqual(stats.lookup(1), Array.from({ length: stats.cpus }, () => zero));
    t.deepEqual(stats.lookup(2), per);
    t.is(stats.updateBatch([]), 0);
    t.throws(() => stats.updateBatch([[4, [per[0]!]]]), { instanceOf: RangeError });
    t.throws(() => c.map('qs_stats', U32, Counter), { instanceOf: TypeError });
    t.throws(() => c.perCpuMap('qs_vips', VipKey, Vip), { instanceOf: TypeError });
  } finally {
    c.close();
  }
});

privileged('sizes are checked: wrong codecs and wrong key lengths never reach the kernel', (t) => {
  const c = load();
  try {
    t.throws(() => c.map('qs_config', ServerId, Config), { instanceOf: RangeError, message: /key codec qs_server_id is 16 bytes, the map's key is 4/ });
    t.throws(() => c.map('qs_config', U32, Server), { instanceOf: RangeError });
    const fd = c.maps.get('qs_config')!.fd;
    t.throws(() => native().mapLookup(fd, Buffer.alloc(3), 0), { instanceOf: RangeError, message: /key is 3 bytes, the map's key is 4/ });
    t.throws(() => native().mapUpdate(fd, Buffer.alloc(4), Buffer.alloc(15), 0), { instanceOf: RangeError });
    t.throws(() => native().mapUpdateBatch(fd, Buffer.alloc(6), Buffer.alloc(32), 0), { instanceOf: RangeError });
    // a program fd answers bpf_obj_get_info_by_fd too, with a different struct: refused as a map
    const progFd = c.program('quicsteer_xdp').fd;
    for (const call of [() => native().mapLookup(progFd, Buffer.alloc(20), 0), () => native().mapGetNextKey(progFd, null), () => native().mapInfo(progFd)])
      t.throws(call, { code: 'EINVAL', message: /is not a bpf-map \(bpf-prog\)/ } as object);
    t.throws(() => native().progInfo(fd), { code: 'EINVAL', message: /is not a bpf-prog \(bpf-map\)/ } as object);
    t.throws(() => native().linkInfo(progFd), { code: 'EINVAL', message: /is not a bpf-link \(bpf-prog\)/ } as object);
  } finally {
    c.close();
  }
});

privileged('use after close throws ClosedError; close is idempotent', (t) => {
  const c = load();
  const config = c.map('qs_config', U32, Config);
  const prog = c.program('quicsteer_xdp');
  c.close();
  c.close();
  t.true(config.closed);
  t.throws(() => config.lookup(0), { instanceOf: ClosedError });
  t.throws(() => [...config.keys()], { instanceOf: ClosedError });
  t.throws(() => prog.testRun({ data: udp4Frame('1.1.1.1', '2.2.2.2', 1, 2) }), { instanceOf: ClosedError });
  t.throws(() => prog.info(), { instanceOf: ClosedError, message: 'program quicsteer_xdp is closed' });
});

privileged('BPF_PROG_TEST_RUN: verdict, output packet, one reason counter per packet', (t) => {
  const c = load();
  try {
    const prog = c.program('quicsteer_xdp');
    const stats = c.perCpuMap('qs_stats', U32, Counter);
    publishImage((n) => c.maps.get(n)!.fd, { ...EMPTY_IMAGE, vips: [[vip4('192.0.2.10', 4433), noVip]] });

    const toVip = udp4Frame('198.51.100.7', '192.0.2.10', 5555, 4433);
    const r = prog.testRun({ data: toVip, repeat: 100 });
    t.is(r.retval, XdpAction.PASS);
    t.deepEqual(r.data, toVip);
    t.true(r.durationNs > 0);

    prog.testRun({ data: udp4Frame('198.51.100.7', '192.0.2.10', 5555, 4434), repeat: 7 }); // other port
    prog.testRun({ data: toVip.subarray(0, 14 + 20 + 4) }); // UDP header cut short
    prog.testRun({ data: eth(MAC_B, MAC_A, 0x0800, ipv4Packet('198.51.100.7', '192.0.2.10', 17, udp(1, 4433, Buffer.alloc(8)), { fragOff: 0x2000 })) });
    prog.testRun({ data: eth(MAC_B, MAC_A, 0x0806, Buffer.alloc(28)), repeat: 3 }); // ARP

    // the VIP has no CID layout: its packets are QUIC short headers with nothing to route by
    t.deepEqual(reasons(stats), { NOT_VIP: 10, MALFORMED: 1, FRAGMENT: 1, UNROUTABLE_CID: 100 });
    t.is(sum(stats.lookup(Reason.UNROUTABLE_CID)!).bytes, BigInt(100 * toVip.length));
  } finally {
    c.close();
  }
});

privileged('maps with a BpfMap view share the fd: closing one view closes the map', (t) => {
  const c = loadTest();
  try {
    const rawMap = c.maps.get('test_hash') as BpfMap;
    const typed = rawMap.as(TestKey, TestValue);
    typed.update(tkey(1), tval(1));
    t.is([...rawMap.keys()].length, 1);
    typed.close();
    t.true(rawMap.closed);
  } finally {
    c.close();
  }
});
