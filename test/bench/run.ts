// make bench: ns per packet of the XDP program through BPF_PROG_TEST_RUN on rows of the fixture table,
// as ratios to floors measured in the same run (this machine is shared and noisy: compare ratios).
//   floor "pass":  returns XDP_PASS only
//   floor "steer": parses Ethernet/IPv4/UDP, rewrites both MACs, XDP_TX (what any steering must do)
// Frames are left as the program leaves them; MAC-only rewrites are idempotent, so every repeat
// measures the same path.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectSpec, type Program } from '../../src/bpf/index.js';
import { ROOT, TEST_OBJ, isRoot } from '../helpers/paths.js';
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

// Cold start of `quicsteer status` against a pinned state, as ratios to a bare `node -e 0` in the same run.
{
  const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 15);
  const pin = mkdtempSync(path.join(os.tmpdir(), 'qs-bench-pin-'));
  const sh = (...a: string[]) => spawnSync(a[0]!, a.slice(1), { encoding: 'utf8' });
  const shim = path.join(ROOT, 'scripts/quicsteer.mjs');
  const env = { ...process.env, QUICSTEER_PIN_PATH: pin };
  sh('mount', '-t', 'bpf', 'bpf', pin);
  try {
    // a realistic state: 4 VIPs and 64 servers
    for (let i = 0; i < 4; i++) spawnSync(process.execPath, [shim, 'vips', 'add', `192.0.2.${10 + i}:443`, '--cid', 'quic-lb:sid=2'], { env });
    const cfg = path.join(pin, '..', `qs-bench-${process.pid}.json`);
    const servers = Array.from({ length: 64 }, (_, i) => ({ id: (0x100 + i).toString(16).padStart(4, '0'), mac: `02:00:00:00:01:${i.toString(16).padStart(2, '0')}` }));
    spawnSync('sh', ['-c', `cat > ${cfg}`], { input: JSON.stringify({ localId: '0100', vips: [{ address: '192.0.2.10:443', cid: 'quic-lb:sid=2' }], servers }) });
    const ap = spawnSync(process.execPath, [shim, 'apply', '-f', cfg], { env, encoding: 'utf8' });
    rmSync(cfg, { force: true });
    if (ap.status !== 0) throw new Error(`bench setup: ${ap.stderr}`);
    const time = (args: string[]) => {
      const xs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = process.hrtime.bigint();
        const r = spawnSync(process.execPath, args, { env, stdio: 'ignore' });
        xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
      }
      xs.sort((a, b) => a - b);
      return { min: xs[0]!, median: xs[Math.floor(xs.length / 2)]! };
    };
    const node = time(['-e', '0']);
    const status = time([shim, 'status']);
    const json = time([shim, 'status', '--json']);
    const help = time([shim, '--help']);
    process.stdout.write(`\ncold start, ${RUNS} runs each (ms; ratio of medians to node -e 0)\n`);
    for (const [name, r] of [['node -e 0 (floor)', node], ['quicsteer --help', help], ['quicsteer status (64 servers)', status], ['quicsteer status --json', json]] as const)
      process.stdout.write(`${name.padEnd(32)} min ${r.min.toFixed(0).padStart(4)}  median ${r.median.toFixed(0).padStart(4)}  ×node ${(r.median / node.median).toFixed(2)}\n`);
  } finally {
    sh('umount', pin);
    rmSync(pin, { recursive: true, force: true });
  }
}
