// make bench's code runs: every case once with tiny repeats, every row of the issue present with a
// number > 0 in the table and the JSON. No timing is asserted (benchmarks are not tests).
import { privilegedSerial } from '../helpers/env.js';
import { runBench } from '../bench/cases.js';
import { formatTable, result } from '../bench/report.js';

privilegedSerial('make bench: every case runs once and reports a number', (t) => {
  const opts = { repeat: 100, samples: 1, liveRepeat: 1000, cliRuns: 1 };
  const r = result(runBench(opts), opts);
  const figures = r.rows.map((x) => x.figure);
  for (const want of [
    'XDP_PASS floor', 'MAC-rewrite floor', 'short header, steered (XDP_TX)', 'short header, own ID (local)', 'Handshake, steered',
    'Initial (passed)', 'UDP to a non-VIP address', 'IPv6 short header, steered', '802.1Q-tagged short header, steered',
    'CID fixed offset (MsQuic), steered', 'CID mvfst v1, steered', '65,536 servers, 1 VIP', '10 servers, 1,000 VIPs',
    'short header, steered (veth)', 'instructions verified', 'status, cold start (4,096 servers)', 'attach (load, pin, attach to a veth)',
  ])
    t.true(figures.includes(want), want);
  for (const row of r.rows) {
    t.true(Number.isFinite(row.value) && row.value > 0, `${row.figure}: ${row.value}`);
    if (row.floor) t.true(row.floor.value > 0 && row.ratio! > 0, `${row.figure}: floor`);
    t.is(row.verdict === '—', row.goal === undefined, `${row.figure}: a verdict exactly where there is a goal`);
  }
  const table = formatTable(r);
  for (const f of figures) t.true(table.includes(f), `table has ${f}`);
  t.true(r.rows.every((x) => x.samples.length >= 1) && r.kernel.length > 0);
});
