// A full server table (16,384 owners, real collision runs) through the real program: every owner is found;
// the loop guard's prefilter and the per-generation local IDs beside the live word.
import { ObjectSpec, XdpAction } from '../../src/bpf/index.js';
import { CidFormat, LbFlags, Live, MAX_SERVERS, MacKey, PEER_FILTER_WORDS } from '../../src/bpf/layout.js';
import { u32, whole } from '../../src/bpf/codec.js';
import { native } from '../../src/bpf/native.js';
import { generationMaps, peerFilter, publishImage, readLive, type Image } from '../../src/datapath/install.js';
import { TableFullError, macKey, qsHash, serverValue, sidKey, vipKey, vipValue } from '../../src/datapath/tables.js';
import { privilegedSerial } from '../helpers/env.js';
import { BPF_OBJ } from '../helpers/paths.js';
import { frame, quicLbCid, shortHeader } from '../helpers/frames.js';

// A QUIC-LB VIP (2-byte server IDs) at 192.0.2.10:443, and a short-header frame to it.
const vips: Image['vips'] = [[vipKey('192.0.2.10', 443), vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: [{ sid_len: 2, nonce_len: 6, flags: LbFlags.ENABLED }] })]];
const toVip = (sid: Buffer, src?: Buffer) => frame({ src, ip: { v: 4, src: '198.51.100.7', dst: '192.0.2.10' }, udp: { sport: 1, dport: 443 }, payload: shortHeader(quicLbCid(0, sid, 6)) });

privilegedSerial(`a full server table (${MAX_SERVERS} owners) is placed, read back and found by the program`, (t) => {
  const c = ObjectSpec.open(BPF_OBJ).load();
  try {
    const fdOf = (n: string) => c.maps.get(n)!.fd;
    // server IDs 0x0100.. with MACs that encode them
    const sid = (i: number) => Buffer.from([(i >> 8) + 1, i & 0xff]);
    const mac = (i: number) => Buffer.from([2, 0, 0, 0, (i >> 8) + 1, i & 0xff]);
    const servers = Array.from({ length: MAX_SERVERS }, (_, i) => [sidKey(sid(i)), serverValue({ mac: mac(i), slot: i })] as [ReturnType<typeof sidKey>, ReturnType<typeof serverValue>]);
    publishImage(fdOf, { localId: null, vips, servers, peers: [] });
    t.is(readLive(generationMaps(fdOf)).servers.length, MAX_SERVERS);

    const prog = c.program('quicsteer_xdp');
    let found = 0;
    for (let i = 0; i < MAX_SERVERS; i++) {
      const f = toVip(sid(i));
      const r = prog.testRun({ data: f });
      if (r.retval === XdpAction.TX && r.data.subarray(0, 6).equals(mac(i))) found++;
    }
    t.is(found, MAX_SERVERS);

    // one more than the table holds: refused, and the installed table stays as it was
    t.throws(() => publishImage(fdOf, { localId: null, vips, servers: [...servers, [sidKey(Buffer.from([0xff, 0xff])), serverValue({ mac: mac(0), slot: 0 })]], peers: [] }), { instanceOf: TableFullError });
    t.is(readLive(generationMaps(fdOf)).servers.length, MAX_SERVERS);

    // an empty table: nothing is found any more
    publishImage(fdOf, { localId: null, vips, servers: [], peers: [] });
    const r = prog.testRun({ data: toVip(sid(7)) });
    t.is(r.retval, XdpAction.PASS);
  } finally {
    c.close();
  }
});

privilegedSerial('the loop guard: a peer MAC is guarded, a non-peer whose prefilter bit collides with a peer is still steered, and a publish moves both', (t) => {
  const c = ObjectSpec.open(BPF_OBJ).load();
  try {
    const fdOf = (n: string) => c.maps.get(n)!.fd;
    const owner = Buffer.from('0200000000a2', 'hex');
    const servers: Image['servers'] = [[sidKey(Buffer.from('0c0d', 'hex')), serverValue({ mac: owner, slot: 0 })]];
    const peer = Buffer.from('0200000000b1', 'hex');
    const bitOf = (mac: Buffer) => qsHash(MacKey.encode(macKey(mac))) >>> 24;
    // a MAC that is no peer but shares the peer's prefilter bit: only the exact lookup tells them apart
    let twin: Buffer | undefined;
    for (let i = 0; !twin; i++) {
      const m = Buffer.from([2, 0, 0, 0x77, i >> 8, i & 0xff]);
      if (bitOf(m) === bitOf(peer)) twin = m;
    }
    const from = (src: Buffer) => c.program('quicsteer_xdp').testRun({ data: toVip(Buffer.from('0c0d', 'hex'), src) }).retval;
    const filterOf = (peers: Buffer[]) => peerFilter(peers.map((p) => macKey(p)));

    publishImage(fdOf, { localId: null, vips, servers, peers: [macKey(peer)] });
    const live = Live.decode(native().mapLookup(fdOf('qs_live'), whole(u32).encode(0), 0)!);
    t.deepEqual(live.peer_filter.slice(live.gen * PEER_FILTER_WORDS, (live.gen + 1) * PEER_FILTER_WORDS), filterOf([peer]), 'the live generation carries its peer set\'s filter');
    t.is(from(peer), XdpAction.PASS, 'a peer already steered it: loop guard');
    t.is(from(twin!), XdpAction.TX, 'same filter bit, not a peer: steered');
    t.is(from(Buffer.from('02000000c0de', 'hex')), XdpAction.TX);

    // the next generation has no peers: the old peer is steered again, and its filter bit is gone
    publishImage(fdOf, { localId: null, vips, servers, peers: [] });
    t.is(from(peer), XdpAction.TX);
    publishImage(fdOf, { localId: null, vips, servers, peers: [macKey(twin!)] });
    t.is(from(twin!), XdpAction.PASS);
    t.is(from(peer), XdpAction.TX, 'the twin is the peer now; the old peer shares its bit but is no peer');
  } finally {
    c.close();
  }
});

privilegedSerial('each generation carries its own local ID beside the live word: a flip changes what is local', (t) => {
  const c = ObjectSpec.open(BPF_OBJ).load();
  try {
    const fdOf = (n: string) => c.maps.get(n)!.fd;
    const a = Buffer.from('0a0b', 'hex');
    const b = Buffer.from('0c0d', 'hex');
    const servers: Image['servers'] = [a, b].map((id, slot) => [sidKey(id), serverValue({ mac: Buffer.from([2, 0, 0, 0, 0, 0xa0 + slot]), slot })]);
    const to = (sid: Buffer) => c.program('quicsteer_xdp').testRun({ data: toVip(sid) }).retval;
    const ids = () => Live.decode(native().mapLookup(fdOf('qs_live'), whole(u32).encode(0), 0)!);

    publishImage(fdOf, { localId: sidKey(a), vips, servers, peers: [] });
    t.deepEqual([to(a), to(b)], [XdpAction.PASS, XdpAction.TX]);
    const first = ids();
    publishImage(fdOf, { localId: sidKey(b), vips, servers, peers: [] });
    t.deepEqual([to(a), to(b)], [XdpAction.TX, XdpAction.PASS]);
    const second = ids();
    t.not(second.gen, first.gen);
    // the generation that stopped being live keeps its own local ID; the flip touched only its half
    t.deepEqual(second.local_id[first.gen], first.local_id[first.gen]);
    publishImage(fdOf, { localId: null, vips, servers, peers: [] });
    t.deepEqual([to(a), to(b)], [XdpAction.TX, XdpAction.TX], 'no local ID: nothing is local');
  } finally {
    c.close();
  }
});
