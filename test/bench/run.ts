// make bench: ns per packet of the XDP program through BPF_PROG_TEST_RUN, as ratios to an XDP_PASS
// floor measured in the same run (this machine is shared and noisy: compare ratios, not times).
import { ObjectSpec, type Program } from '../../src/bpf/index.js';
import { Vip, VipKey } from '../../src/bpf/layout.js';
import { NO_CID_VIP, vipKey } from '../../src/datapath/tables.js';
import { BPF_OBJ, TEST_OBJ, isRoot } from '../helpers/paths.js';
import { eth, udp4Frame, MAC_A, MAC_B } from '../helpers/packets.js';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 1_000_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 9);

function measure(prog: Program, data: Buffer): { min: number; median: number } {
  const xs: number[] = [];
  for (let i = 0; i < SAMPLES; i++) xs.push(prog.testRun({ data, repeat: REPEAT }).durationNs);
  xs.sort((a, b) => a - b);
  return { min: xs[0]!, median: xs[Math.floor(xs.length / 2)]! };
}

if (!isRoot) {
  process.stderr.write('bench: needs root (BPF_PROG_TEST_RUN)\n');
  process.exit(1);
}

const qs = ObjectSpec.open(BPF_OBJ).load();
const floor = ObjectSpec.open(TEST_OBJ).load();
try {
  qs.map('qs_vips', VipKey, Vip).update(vipKey('192.0.2.10', 443), NO_CID_VIP);
  const prog = qs.program('quicsteer_xdp');
  const cases: [string, Program, Buffer][] = [
    ['floor: XDP_PASS only', floor.program('test_pass'), udp4Frame('198.51.100.7', '192.0.2.10', 5555, 443)],
    ['UDP to a VIP (IPv4)', prog, udp4Frame('198.51.100.7', '192.0.2.10', 5555, 443, Buffer.alloc(1200))],
    ['UDP to another port (not VIP)', prog, udp4Frame('198.51.100.7', '192.0.2.10', 5555, 80)],
    ['ARP (not IP)', prog, eth(MAC_B, MAC_A, 0x0806, Buffer.alloc(28))],
  ];
  const rows = cases.map(([name, p, data]) => ({ name, ...measure(p, data) }));
  const base = rows[0]!.min;
  process.stdout.write(`BPF_PROG_TEST_RUN, repeat ${REPEAT}, ${SAMPLES} samples; ns per packet; ratio = min / floor min\n`);
  for (const r of rows) process.stdout.write(`${r.name.padEnd(34)} min ${String(r.min).padStart(4)}  median ${String(r.median).padStart(4)}  ratio ${(r.min / base).toFixed(2)}\n`);
} finally {
  qs.close();
  floor.close();
}
