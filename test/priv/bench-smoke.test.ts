// make bench's code runs: every case once with tiny repeats, every row of the issue present with a
// number > 0 in the table and the JSON. No timing is asserted (benchmarks are not tests).
import { privilegedSerial } from '../helpers/env.js';
import { gquicCid, runBench } from '../bench/cases.js';
import { formatTable, result } from '../bench/report.js';
import { BenchWorld, OBJECTS, benchConfig } from '../bench/world.js';
import { CID, fixtures, v4 } from '../helpers/fixtures.js';
import { q043Header, shortHeader } from '../helpers/frames.js';
import { PORT_GQUIC_LB } from '../helpers/world.js';
import { GquicVersion } from '../../src/bpf/layout.js';
import { XdpAction } from '../../src/bpf/index.js';
import { Netns } from '../helpers/netns.js';
import { kernelHasCryptoKfuncs } from '../../src/datapath/crypto.js';

privilegedSerial('make bench: every case runs once and reports a number', (t) => {
  const opts = { repeat: 100, samples: 1, liveRepeat: 1000, cliRuns: 1 };
  const r = result(runBench(opts), opts);
  const figures = r.rows.map((x) => x.figure);
  for (const want of [
    'XDP_PASS floor', 'MAC-rewrite floor', 'short header, steered (XDP_TX)', 'short header, own ID (local)', 'Handshake, steered',
    'Initial (passed)', 'UDP to a non-VIP address', 'IPv6 short header, steered', '802.1Q-tagged short header, steered',
    'CID fixed offset (MsQuic), steered', 'CID mvfst v1, steered', '65,536 servers, 1 VIP', '10 servers, 1,024 VIPs',
    'short header, steered (veth)', 'instructions verified', 'status, cold start (10,000 servers)', 'apply -f: 10,000 servers into empty tables',
    'attach (load, pin, attach to a veth)', 'restoring harness, own cost', 'short header, steered, net of XDP_PASS',
    '1. parse Ethernet/IP/UDP', '7. + MAC rewrite, XDP_TX', '8. + counters: the shipped program',
    'Q043 with version, by the Maglev table', 'Q046/Q050 short header, by the Maglev table', 'IETF short header, by its server ID',
  ])
    t.true(figures.includes(want), want);
  // the encrypted rows per AES implementation: the table one everywhere, the kfunc one where the kernel has the kfuncs
  const impls = ['table AES', ...(kernelHasCryptoKfuncs() ? ['kfunc AES'] : [])];
  for (const impl of impls) t.is(figures.filter((f) => f.startsWith(impl)).length, 6, `${impl}: 3 cache hits and 3 decryptions`);
  for (const row of r.rows) {
    // ns rows are net of the harness (or of XDP_PASS): with 100 runs a difference may round to 0 or
    // below; every other figure is a real time, rate or size
    if (row.unit === 'ns') t.true(Number.isFinite(row.value), `${row.figure}: ${row.value}`);
    else t.true(Number.isFinite(row.value) && row.value > 0, `${row.figure}: ${row.value}`);
    if (row.floor && row.unit !== 'ns') t.true(row.floor.value > 0 && row.ratio! > 0, `${row.figure}: floor`);
    if (row.floor) t.true(Number.isFinite(row.floor.value), `${row.figure}: floor`);
    if (row.section.startsWith('cost breakdown')) t.is(typeof row.delta, 'number', `${row.figure}: a stage shows what it adds`);
    t.is(row.verdict === '—', row.goal === undefined, `${row.figure}: a verdict exactly where there is a goal`);
  }
  const table = formatTable(r);
  for (const f of figures) t.true(table.includes(f), `table has ${f}`);
  t.true(r.rows.every((x) => x.samples.length >= 1) && r.kernel.length > 0);
});

// Controls for the benchmark's method: a steered row measures the steer only because the harness
// restores the frame, and a row whose packets took another path is refused, not reported.
privilegedSerial('make bench: without the restoring harness a steered frame hits the loop guard from its 2nd run; with it every run is steered; a gQUIC row checks its gQUIC counter too', (t) => {
  const h = new Netns('qs-bs');
  let w: BenchWorld | undefined;
  try {
    h.veth('veth0', 'veth1');
    w = new BenchWorld(h, benchConfig());
    const prog = w.build(OBJECTS.shipped).program('quicsteer_xdp');
    const steer = fixtures().find((f) => f.name === 'IPv4, short header to RS2')!;
    const moved = (run: () => void) => {
      const before = { s: w!.reasonPackets('STEERED'), g: w!.reasonPackets('LOOP_GUARD') };
      run();
      return { steered: Number(w!.reasonPackets('STEERED') - before.s), guarded: Number(w!.reasonPackets('LOOP_GUARD') - before.g) };
    };
    // the applied peer set holds this server's own MAC: a steered frame's new source
    t.deepEqual(moved(() => h.enter(() => prog.testRun({ data: steer.frame, repeat: 100, ingressIfindex: 1 }))), { steered: 1, guarded: 99 });
    w.arm(prog, steer.frame);
    t.deepEqual(moved(() => h.enter(() => w!.restore.testRun({ data: steer.frame, repeat: 100, ingressIfindex: 1 }))), { steered: 100, guarded: 0 });
    // the bench's own check: a row is refused when its runs were not all counted under its reason
    t.true(w.sample('steer', prog, steer.frame, 100, XdpAction.TX, 'STEERED') >= 0);
    t.throws(() => w!.sample('steer named local', prog, steer.frame, 100, XdpAction.TX, 'LOCAL'), { message: /100 runs moved LOCAL by 0/ });
    const local = fixtures().find((f) => f.reason === 'LOCAL')!;
    t.throws(() => w!.sample('local named steered', prog, local.frame, 100, XdpAction.PASS, 'STEERED'), { message: /100 runs moved STEERED by 0/ });
    t.throws(() => w!.sample('wrong verdict', prog, local.frame, 100, XdpAction.TX), { message: /returned 2, the row measures 3/ });
    // the gQUIC rows' second counter: a Q043 frame is hashed to its owner only on the gQUIC VIP, and
    // an IETF short header there moves no gQUIC counter
    const q043 = q043Header({ cid: gquicCid(benchConfig()), version: GquicVersion.Q043 });
    const hashedQ043 = { what: 'Q043/STEERED', read: () => w!.gquicPackets('Q043', 'STEERED'), by: 'runs' as const };
    t.true(w.sample('Q043', prog, v4(q043, PORT_GQUIC_LB), 100, XdpAction.TX, 'STEERED', undefined, undefined, hashedQ043) >= 0);
    t.throws(() => w!.sample('Q043, no gQUIC VIP', prog, v4(q043), 100, XdpAction.TX, 'STEERED', undefined, undefined, hashedQ043), { message: /returned 2, the row measures 3/ });
    const ietf = v4(shortHeader(CID.rs2), PORT_GQUIC_LB);
    const hashedShort = { what: 'SHORT/STEERED', read: () => w!.gquicPackets('SHORT', 'STEERED'), by: 'runs' as const };
    t.throws(() => w!.sample('IETF named hashed', prog, ietf, 100, XdpAction.TX, 'STEERED', undefined, undefined, hashedShort), { message: /100 runs moved SHORT\/STEERED by 0/ });
  } finally {
    w?.destroy();
    h.destroy();
  }
});
