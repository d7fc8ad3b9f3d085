// quicsteer stats [--json] [--watch <seconds>] [--count <n>]: why packets went where, summed over CPUs.
import { Command } from 'commander';
import { globals } from './common.js';
import { json, out, table } from '../output.js';
import type { CounterT } from '../../bpf/layout.js';

type Counters = { reasons: Record<string, CounterT>; servers: Record<string, CounterT> };

function rows(cur: Record<string, CounterT>, prev: Record<string, CounterT> | undefined, secs: number): (string | number)[][] {
  return Object.entries(cur).map(([k, c]) => {
    const p = prev?.[k];
    const rate = (a: bigint, b: bigint | undefined) => (b === undefined ? '' : (Number(a - b) / secs).toFixed(1));
    return prev ? [k, String(c.packets), String(c.bytes), rate(c.packets, p?.packets ?? 0n), rate(c.bytes, p?.bytes ?? 0n)] : [k, String(c.packets), String(c.bytes)];
  });
}

export function statsCommand(): Command {
  return new Command('stats')
    .description('packets and bytes per reason, and steered packets and bytes per owner, summed over CPUs')
    .option('--json', 'machine-readable output (with --watch: one JSON object per line)')
    .option('--watch <seconds>', 'print again every <seconds>, with rates')
    .option('--count <n>', 'with --watch: stop after <n> prints (default: until interrupted)')
    .action(async (opts: { json?: boolean; watch?: string; count?: string }, cmd: Command) => {
      const { UsageError, RuntimeError, requireRoot } = await import('../../control/errors.js');
      const watch = opts.watch === undefined ? undefined : Number(opts.watch);
      if (watch !== undefined && !(watch > 0 && watch <= 3600)) throw new UsageError(`bad --watch '${opts.watch}': seconds, more than 0 and at most 3600`);
      const count = opts.count === undefined ? Infinity : Number(opts.count);
      if (opts.count !== undefined && !(Number.isInteger(count) && count >= 1)) throw new UsageError(`bad --count '${opts.count}': a whole number of at least 1`);
      requireRoot('stats');
      const { PinnedState } = await import('../../control/state.js');
      const st = PinnedState.open(globals(cmd).pinPath);
      if (!st) throw new RuntimeError(`no quicsteer state under ${globals(cmd).pinPath}: nothing is attached`);
      try {
        let prev: Counters | undefined;
        for (let i = 0; i < (watch === undefined ? 1 : count); i++) {
          if (i > 0) await new Promise((r) => setTimeout(r, watch! * 1000));
          const cur = st.counters();
          if (opts.json) {
            const rates = prev && watch ? { interval: watch } : {};
            out(json({ ...rates, reasons: cur.reasons, servers: cur.servers }));
          } else {
            const h = prev ? ['PACKETS', 'BYTES', 'PKT/S', 'BYTES/S'] : ['PACKETS', 'BYTES'];
            out(`${i > 0 ? '\n' : ''}${table(['REASON', ...h], rows(cur.reasons, prev?.reasons, watch ?? 1))}`);
            if (Object.keys(cur.servers).length) out(`\n${table(['STEERED TO', ...h], rows(cur.servers, prev?.servers, watch ?? 1))}`);
          }
          prev = cur;
        }
      } finally {
        st.close();
      }
    });
}
