// Loads the real object and drives its maps and program through the typed layer (needs root).
import { ObjectSpec, BpfMap, PerCpuMap, ClosedError, XdpAction, isNativeError, type Collection } from '../../src/bpf/index.js';
import { Counter, Family, Reason, REASON_MAX, Vip, VipKey, ServerId, Server, Config, type VipT, type CounterT, type ServerIdT, type ServerT } from '../../src/bpf/layout.js';
import { whole } from '../../src/bpf/codec.js';
import { NO_CID_VIP, serverValue, sidKey } from '../../src/datapath/tables.js';
import { u32 } from '../../src/bpf/codec.js';
import { native } from '../../src/bpf/native.js';
import { BPF_OBJ, privileged } from '../helpers/env.js';
import { eth, ipv4, ipv4Packet, udp, udp4Frame, MAC_A, MAC_B } from '../helpers/packets.js';

const U32 = whole(u32);
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
  const c = load();
  try {
    const vips = c.map('qs_vips', VipKey, Vip);
    t.is(vips.lookup(vip4('10.0.0.1', 443)), undefined);
    vips.update(vip4('10.0.0.1', 443), { ...noVip, cid_format: 2, sid_offset: 1, sid_len: 4 });
    vips.update(vip4('10.0.0.2', 4433), noVip);
    t.like(vips.lookup(vip4('10.0.0.1', 443)), { cid_format: 2, sid_offset: 1, sid_len: 4 });
    t.deepEqual([...vips.keys()].map((k) => `${[...k.addr.subarray(0, 4)].join('.')}:${k.port}`).sort(), ['10.0.0.1:443', '10.0.0.2:4433']);
    t.is([...vips.entries()].length, 2);

    const exists = t.throws(() => vips.update(vip4('10.0.0.1', 443), noVip, 'noexist'));
    t.true(isNativeError(exists));
    t.like(exists as object, { code: 'EEXIST', syscall: 'bpf_map_update_elem' });
    t.throws(() => vips.update(vip4('10.9.9.9', 1), noVip, 'exist'), { code: 'ENOENT' } as object);

    t.true(vips.delete(vip4('10.0.0.1', 443)));
    t.false(vips.delete(vip4('10.0.0.1', 443)));
    t.is([...vips.keys()].length, 1);
  } finally {
    c.close();
  }
});

privileged('batch update, lookup and delete', (t) => {
  const c = load();
  try {
    const servers = c.map('qs_servers', ServerId, Server);
    const entries = Array.from({ length: 300 }, (_, i) => [
      sidKey(Buffer.from([i >> 8, i & 0xff])),
      serverValue({ mac: Buffer.from([2, 0, 0, 0, i >> 8, i & 0xff]), state: i % 3, ifindex: i + 1, slot: i }),
    ] as [ServerIdT, ServerT]);
    t.is(servers.updateBatch(entries), 300);
    const got = servers.lookupBatch(64);
    t.is(got.length, 300);
    const byIfindex = new Map(got.map(([k, v]) => [v.ifindex, k]));
    t.deepEqual([...byIfindex.get(258)!.id.subarray(0, 2)], [1, 1]);
    t.is(servers.deleteBatch(entries.slice(0, 100).map(([k]) => k)), 100);
    t.is([...servers.keys()].length, 200);
  } finally {
    c.close();
  }
});

privileged('array and per-CPU maps: one value per possible CPU', (t) => {
  const c = load();
  try {
    const config = c.map('qs_config', U32, Config);
    t.deepEqual(config.lookup(0), { local_id: { len: 0, id: Buffer.alloc(15) } });
    config.update(0, { local_id: { len: 1, id: Buffer.from([7]) } });
    t.is(config.lookup(0)!.local_id.id[0], 7);
    t.throws(() => config.update(1, config.lookup(0)!), { code: 'E2BIG' } as object);

    const stats = c.perCpuMap('qs_stats', U32, Counter);
    t.is(stats.cpus, native().numPossibleCpus());
    t.is(stats.lookup(0)!.length, stats.cpus);
    const per = Array.from({ length: stats.cpus }, (_, i) => ({ packets: BigInt(i + 1), bytes: 100n }));
    stats.update(1, per);
    t.deepEqual(stats.lookup(1), per);
    t.is(stats.lookup(REASON_MAX), undefined);
    t.throws(() => stats.update(1, [per[0]!]), { instanceOf: RangeError });
    t.throws(() => c.map('qs_stats', U32, Counter), { instanceOf: TypeError });
    t.throws(() => c.perCpuMap('qs_vips', VipKey, Vip), { instanceOf: TypeError });
  } finally {
    c.close();
  }
});

privileged('sizes are checked: wrong codecs and wrong key lengths never reach the kernel', (t) => {
  const c = load();
  try {
    t.throws(() => c.map('qs_vips', ServerId, Vip), { instanceOf: RangeError, message: /key codec qs_server_id is 16 bytes, the map's key is 20/ });
    t.throws(() => c.map('qs_vips', VipKey, Server), { instanceOf: RangeError });
    const fd = c.maps.get('qs_vips')!.fd;
    t.throws(() => native().mapLookup(fd, Buffer.alloc(3), 0), { instanceOf: RangeError, message: /key is 3 bytes, the map's key is 20/ });
    t.throws(() => native().mapUpdate(fd, Buffer.alloc(20), Buffer.alloc(31), 0), { instanceOf: RangeError });
    t.throws(() => native().mapUpdateBatch(fd, Buffer.alloc(30), Buffer.alloc(32), 0), { instanceOf: RangeError });
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
  const vips = c.map('qs_vips', VipKey, Vip);
  const prog = c.program('quicsteer_xdp');
  c.close();
  c.close();
  t.true(vips.closed);
  t.throws(() => vips.lookup(vip4('10.0.0.1', 1)), { instanceOf: ClosedError });
  t.throws(() => [...vips.keys()], { instanceOf: ClosedError });
  t.throws(() => prog.testRun({ data: udp4Frame('1.1.1.1', '2.2.2.2', 1, 2) }), { instanceOf: ClosedError });
  t.throws(() => prog.info(), { instanceOf: ClosedError, message: 'program quicsteer_xdp is closed' });
});

privileged('BPF_PROG_TEST_RUN: verdict, output packet, one reason counter per packet', (t) => {
  const c = load();
  try {
    const prog = c.program('quicsteer_xdp');
    const vips = c.map('qs_vips', VipKey, Vip);
    const stats = c.perCpuMap('qs_stats', U32, Counter);
    vips.update(vip4('192.0.2.10', 4433), noVip);

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
  const c = load();
  try {
    const rawMap = c.maps.get('qs_vips') as BpfMap;
    const typed = rawMap.as(VipKey, Vip);
    typed.update(vip4('10.1.1.1', 1), noVip);
    t.is([...rawMap.keys()].length, 1);
    typed.close();
    t.true(rawMap.closed);
  } finally {
    c.close();
  }
});
