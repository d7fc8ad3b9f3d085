// A full server table (4,096 owners, real collision runs) through the real program: every owner is found.
import { ObjectSpec, XdpAction } from '../../src/bpf/index.js';
import { CidFormat, LbFlags, MAX_SERVERS } from '../../src/bpf/layout.js';
import { generationMaps, publishImage, readLive, type Image } from '../../src/datapath/install.js';
import { TableFullError, serverValue, sidKey, vipKey, vipValue } from '../../src/datapath/tables.js';
import { privilegedSerial } from '../helpers/env.js';
import { BPF_OBJ } from '../helpers/paths.js';
import { frame, quicLbCid, shortHeader } from '../helpers/frames.js';

privilegedSerial(`a full server table (${MAX_SERVERS} owners) is placed, read back and found by the program`, (t) => {
  const c = ObjectSpec.open(BPF_OBJ).load();
  try {
    const fdOf = (n: string) => c.maps.get(n)!.fd;
    const vips: Image['vips'] = [[vipKey('192.0.2.10', 443), vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: [{ sid_len: 2, nonce_len: 6, flags: LbFlags.ENABLED }] })]];
    // server IDs 0x0100.. with MACs that encode them
    const sid = (i: number) => Buffer.from([(i >> 8) + 1, i & 0xff]);
    const mac = (i: number) => Buffer.from([2, 0, 0, 0, (i >> 8) + 1, i & 0xff]);
    const servers = Array.from({ length: MAX_SERVERS }, (_, i) => [sidKey(sid(i)), serverValue({ mac: mac(i), slot: i })] as [ReturnType<typeof sidKey>, ReturnType<typeof serverValue>]);
    publishImage(fdOf, { localId: null, vips, servers, peers: [] });
    t.is(readLive(generationMaps(fdOf)).servers.length, MAX_SERVERS);

    const prog = c.program('quicsteer_xdp');
    let found = 0;
    for (let i = 0; i < MAX_SERVERS; i++) {
      const f = frame({ ip: { v: 4, src: '198.51.100.7', dst: '192.0.2.10' }, udp: { sport: 1, dport: 443 }, payload: shortHeader(quicLbCid(0, sid(i), 6)) });
      const r = prog.testRun({ data: f });
      if (r.retval === XdpAction.TX && r.data.subarray(0, 6).equals(mac(i))) found++;
    }
    t.is(found, MAX_SERVERS);

    // one more than the table holds: refused, and the installed table stays as it was
    t.throws(() => publishImage(fdOf, { localId: null, vips, servers: [...servers, [sidKey(Buffer.from([0xff, 0xff])), serverValue({ mac: mac(0), slot: 0 })]], peers: [] }), { instanceOf: TableFullError });
    t.is(readLive(generationMaps(fdOf)).servers.length, MAX_SERVERS);

    // an empty table: nothing is found any more
    publishImage(fdOf, { localId: null, vips, servers: [], peers: [] });
    const r = prog.testRun({ data: frame({ ip: { v: 4, src: '198.51.100.7', dst: '192.0.2.10' }, udp: { sport: 1, dport: 443 }, payload: shortHeader(quicLbCid(0, sid(7), 6)) }) });
    t.is(r.retval, XdpAction.PASS);
  } finally {
    c.close();
  }
});
