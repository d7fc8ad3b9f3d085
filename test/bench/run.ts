// make bench: ns per packet of the XDP program through BPF_PROG_TEST_RUN on rows of the fixture table,
// as ratios to floors measured in the same run (this machine is shared and noisy: compare ratios).
//   floor "pass":  returns XDP_PASS only
//   floor "steer": parses Ethernet/IPv4/UDP, rewrites both MACs, XDP_TX (what any steering must do)
// Frames are left as the program leaves them; MAC-only rewrites are idempotent, so every repeat
// measures the same path.
import { ObjectSpec, type Program } from '../../src/bpf/index.js';
import { TEST_OBJ, isRoot } from '../helpers/paths.js';
import { Harness, fixtureWorld } from '../helpers/world.js';
import { fixtures, type Fixture } from '../helpers/fixtures.js';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 1_000_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 11);

// The fixture rows measured, by name.
const ROWS = [
  'IPv4, short header to RS2',
  'v1 Handshake to RS2',
  'IPv6, short header to RS2',
  'MsQuic short header to 192.0.2.2',
  'own server ID: delivered locally',
  'v1 Initial: the director decides',
  'UDP to another port of the VIP address',
  'ARP is not IP',
];

if (!isRoot) {
  process.stderr.write('bench: needs root (BPF_PROG_TEST_RUN)\n');
  process.exit(1);
}

const h = new Harness();
const floors = ObjectSpec.open(TEST_OBJ).load();
try {
  h.install(fixtureWorld((n) => h.ifindex(n)));
  const table = new Map(fixtures().map((f) => [f.name, f]));
  const rows: [string, Program | null, Fixture][] = [];
  const steer = table.get(ROWS[0]!)!;
  rows.push(['floor pass: XDP_PASS only', floors.program('test_pass'), steer]);
  rows.push(['floor steer: parse + MAC rewrite + TX', floors.program('test_floor_tx'), steer]);
  for (const name of ROWS) rows.push([name, null, table.get(name)!]);

  // samples interleave the rows, so a noisy moment hits all of them alike
  const times = rows.map(() => [] as number[]);
  for (let s = 0; s < SAMPLES; s++)
    rows.forEach(([, prog, f], i) => {
      const r = h.ns.enter(() => (prog ?? h.prog).testRun({ data: f.frame, repeat: REPEAT, ingressIfindex: 1 }));
      times[i]!.push(r.durationNs);
    });
  const stat = times.map((xs) => {
    xs.sort((a, b) => a - b);
    return { min: xs[0]!, median: xs[Math.floor(xs.length / 2)]! };
  });
  const pass = stat[0]!.min;
  const floor = stat[1]!.min;
  process.stdout.write(`BPF_PROG_TEST_RUN, repeat ${REPEAT}, ${SAMPLES} interleaved samples; ns/packet; ratios of mins\n`);
  process.stdout.write(`${'row'.padEnd(42)} ${'verdict'.padEnd(14)} min  med  ×pass ×steer-floor\n`);
  rows.forEach(([name, , f], i) => {
    const st = stat[i]!;
    const verdict = i < 2 ? '-' : f.reason;
    process.stdout.write(
      `${name.padEnd(42)} ${verdict.padEnd(14)} ${String(st.min).padStart(3)}  ${String(st.median).padStart(3)}  ${(st.min / pass).toFixed(2).padStart(5)} ${(st.min / floor).toFixed(2).padStart(6)}\n`,
    );
  });
} finally {
  floors.close();
  h.destroy();
}
