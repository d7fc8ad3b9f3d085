// Maps pinned by name under a pin root are reused by the next load; pinned objects reopen by path (needs root).
import { existsSync, readdirSync } from 'node:fs';
import { ObjectSpec, Program, openPinnedMap, openPinnedPerCpuMap } from '../../src/bpf/index.js';
import { Config, Counter, VipEntry, type VipT } from '../../src/bpf/layout.js';
import { EMPTY_IMAGE, generationMaps, publishImage, readLive } from '../../src/datapath/install.js';
import { u32, whole } from '../../src/bpf/codec.js';
import { vipKey, vipValue } from '../../src/datapath/tables.js';
import { BPF_OBJ, TEST_OBJ, privileged, privilegedSerial } from '../helpers/env.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { fdCount } from '../unit/fd-leak.test.js';

const U32 = whole(u32);
const vip: VipT = vipValue({ cid_format: 1, quic_lb: [{ sid_len: 2, nonce_len: 4, flags: 1 }] });
const key = vipKey('203.0.113.1', 443);

privileged('a second load reuses the maps pinned by the first, with their contents', (t) => {
  const fs = new TempBpffs();
  try {
    const first = ObjectSpec.open(BPF_OBJ, { pinRootPath: fs.dir }).load();
    t.deepEqual(readdirSync(fs.dir).filter((f) => !f.endsWith('.debug')).sort(), ['qs_config', 'qs_gquic_ring', 'qs_gquic_stats', 'qs_keys', 'qs_lb_cache', 'qs_lb_decrypts', 'qs_live', 'qs_peers', 'qs_server_stats', 'qs_servers', 'qs_stats', 'qs_sync', 'qs_tx_ports', 'qs_vips']);
    publishImage((n) => first.maps.get(n)!.fd, { ...EMPTY_IMAGE, vips: [[key, vip]] });
    const id = first.maps.get('qs_vips')!.info.id;
    first.close();

    // the table installed through the first load is what the second one sees
    const second = ObjectSpec.open(BPF_OBJ, { pinRootPath: fs.dir }).load();
    t.is(second.maps.get('qs_vips')!.info.id, id);
    t.deepEqual(readLive(generationMaps((n) => second.maps.get(n)!.fd)).vips, [[key, vip]]);
    second.close();

    const byPath = openPinnedMap(fs.path('qs_vips'), U32, VipEntry);
    t.is(byPath.info.id, id);
    byPath.close();
    const stats = openPinnedPerCpuMap(fs.path('qs_stats'), U32, Counter);
    t.is(stats.lookup(0)!.length, stats.cpus);
    stats.close();
    t.throws(() => openPinnedMap(fs.path('qs_stats'), U32, Counter), { instanceOf: TypeError, message: /per-CPU/ });
    t.throws(() => openPinnedPerCpuMap(fs.path('qs_config'), U32, Config), { instanceOf: TypeError });
    t.throws(() => openPinnedMap(fs.path('nope'), U32, Config), { code: 'ENOENT' } as object);
  } finally {
    fs.destroy();
  }
});

privileged('an explicit pin path and reuse of a live map work before load, and are refused after', (t) => {
  const fs = new TempBpffs();
  try {
    const a = ObjectSpec.open(BPF_OBJ).setMapPinPath('qs_config', fs.path('config')).load();
    t.true(existsSync(fs.path('config')));
    const configA = a.map('qs_config', U32, Config);
    const b = ObjectSpec.open(BPF_OBJ).reuseMap('qs_config', configA).load();
    t.is(b.maps.get('qs_config')!.info.id, configA.info.id);
    a.close();
    b.close();

    const spec = ObjectSpec.open(BPF_OBJ);
    spec.load().close();
    t.true(spec.closed, 'load consumes the spec');
  } finally {
    fs.destroy();
  }
});

privileged('a map pinned with another layout is refused with a clear error, and nothing is loaded', (t) => {
  const fs = new TempBpffs();
  try {
    const other = ObjectSpec.open(TEST_OBJ).load();
    other.maps.get('test_rx')!.pin(fs.path('qs_vips'));
    other.close();
    t.throws(() => ObjectSpec.open(BPF_OBJ, { pinRootPath: fs.dir }), {
      message: /map qs_vips pinned at .*qs_vips differs from the object's \(valueSize, maxEntries\): remove the pin to start over/,
    });
    t.deepEqual(readdirSync(fs.dir).filter((f) => f.startsWith('qs_')), ['qs_vips']);
  } finally {
    fs.destroy();
  }
});

privileged('a pinned program reopens by path', (t) => {
  const fs = new TempBpffs();
  try {
    const c = ObjectSpec.open(BPF_OBJ).load();
    const p = c.program('quicsteer_xdp');
    p.pin(fs.path('prog'));
    const id = p.info().id;
    c.close();
    const again = Program.openPinned(fs.path('prog'));
    t.is(again.info().id, id);
    t.is(again.name, 'quicsteer_xdp');
    again.close();
    const byId = Program.fromId(id);
    t.is(byId.info().tag.length, 16);
    byId.close();
  } finally {
    fs.destroy();
  }
});

privilegedSerial('10,000 pinned-map opens and closes, and 300 loads, leak no fd', (t) => {
  const fs = new TempBpffs();
  try {
    ObjectSpec.open(BPF_OBJ, { pinRootPath: fs.dir }).load().close();
    const before = fdCount();
    for (let i = 0; i < 10_000; i++) openPinnedMap(fs.path('qs_config'), U32, Config).close();
    for (let i = 0; i < 300; i++) ObjectSpec.open(BPF_OBJ, { pinRootPath: fs.dir }).load().close();
    for (let i = 0; i < 1000; i++) t.throws(() => openPinnedPerCpuMap(fs.path('qs_config'), U32, Config));
    t.is(fdCount(), before);
  } finally {
    fs.destroy();
  }
});
