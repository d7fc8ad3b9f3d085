// make bench's output: one table (figure, value, floor, ratio, goal, verdict) and the JSON beside it.
import os from 'node:os';
import type { BenchOptions, Goal, Row } from './cases.js';

export interface BenchResult {
  date: string;
  kernel: string;
  cpus: string;
  node: string;
  options: BenchOptions;
  rows: Row[];
}

export function result(rows: Row[], options: BenchOptions): BenchResult {
  const cpus = os.cpus();
  return { date: new Date().toISOString(), kernel: os.release(), cpus: `${cpus.length} × ${cpus[0]?.model ?? '?'}`, node: process.version, options, rows };
}

const num = (x: number, unit: Row['unit']) =>
  unit === 'Mpps' ? x.toFixed(2) : unit === 'ns' || unit === 'µs' || unit === 'ms' ? x.toFixed(x < 10 ? 1 : 0) : x.toLocaleString('en');

function goalText(g: Goal, unit: Row['unit']): string {
  const op = g.op === '<=' ? '≤' : g.op === '>=' ? '≥' : '<';
  return g.on === 'ratio' ? `${op} ${g.limit.toFixed(2)}×` : `${op} ${num(g.limit, unit)} ${unit}`;
}

/** The table as Markdown (readable in a terminal too), a header line and the rows' notes under it. */
export function formatTable(r: BenchResult): string {
  const { repeat, samples, liveRepeat, cliRuns } = r.options;
  const head = [
    `make bench, ${r.date.slice(0, 16).replace('T', ' ')} UTC, Linux ${r.kernel}, ${r.cpus}, node ${r.node}`,
    `BPF_PROG_TEST_RUN: ${samples} interleaved samples of ${repeat.toLocaleString('en')} runs; veth: ${samples} × ${liveRepeat.toLocaleString('en')} frames; CLI: ${cliRuns} runs.`,
    'value = best sample (min time, max rate), median in brackets; ratio = value / floor value, both from this run; verdicts judge the value.',
    'breakdown rows show what the stage adds (value - the value of the stage before) where other rows show the ratio.',
    '',
  ];
  const cells: string[][] = [['figure', 'value', 'floor', 'ratio', 'goal', 'verdict']];
  let section = '';
  for (const row of r.rows) {
    if (row.section !== section) {
      section = row.section;
      cells.push([`**${section}**`, '', '', '', '', '']);
    }
    const sampled = row.samples.length > 1;
    cells.push([
      row.figure,
      `${num(row.value, row.unit)} ${row.unit}${sampled ? ` (${num(row.median, row.unit)})` : ''}`,
      row.floor ? `${num(row.floor.value, row.unit)} ${row.floor.figure}` : '',
      row.delta !== undefined ? `${row.delta >= 0 ? '+' : ''}${num(row.delta, row.unit)} ${row.unit}` : row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}×`,
      row.goal ? goalText(row.goal, row.unit) : '',
      row.verdict,
    ]);
  }
  const width = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(width[i]!)).join(' | ')} |`;
  const table = [line(cells[0]!), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)];
  const notes = r.rows.filter((x) => x.note).map((x) => `- ${x.note}`);
  return [...head, ...table, '', ...notes, ''].join('\n');
}
