// make bench: runs every case (test/bench/cases.ts), prints one table, writes build/bench/results.json.
// Env: BENCH_REPEAT (runs per BPF sample), BENCH_SAMPLES, BENCH_LIVE_REPEAT (frames per veth sample), BENCH_CLI_RUNS.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, isRoot } from '../helpers/paths.js';
import { runBench, type BenchOptions } from './cases.js';
import { formatTable, result } from './report.js';

if (!isRoot) {
  process.stderr.write('bench: needs root (BPF_PROG_TEST_RUN, netns, bpffs)\n');
  process.exit(1);
}

const opts: BenchOptions = {
  repeat: Number(process.env.BENCH_REPEAT ?? 1_000_000),
  samples: Number(process.env.BENCH_SAMPLES ?? 11),
  liveRepeat: Number(process.env.BENCH_LIVE_REPEAT ?? 1_000_000),
  cliRuns: Number(process.env.BENCH_CLI_RUNS ?? 11),
};
const r = result(runBench(opts), opts);
const out = path.join(ROOT, 'build/bench/results.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(r, null, 1)}\n`);
process.stdout.write(`${formatTable(r)}\nJSON: ${path.relative(process.cwd(), out)}\n`);
