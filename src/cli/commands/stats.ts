// quicsteer stats [--json] [--watch <seconds>] [--count <n>] | --prometheus: why packets went where, summed over CPUs.
import { Command } from 'commander';
import { globals } from './common.js';
import { json, out, table } from '../output.js';
import path from 'node:path';
import type { CounterT } from '../../bpf/layout.js';
import type { BpfMap, PerCpuMap } from '../../bpf/map.js';

type Counters = { reasons: Record<string, CounterT>; servers: Record<string, CounterT>; decrypted: bigint; gquic: Record<string, CounterT> };

/** '<form> <reason>' keys as { form: { reason: counter } } (the --json shape of the gQUIC counters). */
function byForm(flat: Record<string, Row>): Record<string, Record<string, Row>> {
  const out: Record<string, Record<string, Row>> = {};
  for (const [k, c] of Object.entries(flat)) {
    const [form, reason] = k.split(' ') as [string, string];
    (out[form] ??= {})[reason] = c;
  }
  return out;
}

/** The counters that ever moved (now or at the last print): gQUIC has 4 forms x every reason. */
const moved = (cur: Record<string, CounterT>, prev: Record<string, CounterT> | undefined) =>
  Object.fromEntries(Object.entries(cur).filter(([k, c]) => c.packets > 0n || (prev?.[k]?.packets ?? 0n) > 0n));
type Row = CounterT & { reset?: true };

// --watch bounds: below 0.1 s the reads themselves are the load; above an hour, run it from cron.
export const WATCH_MIN = 0.1;
export const WATCH_MAX = 3600;

/** A counter below its last value was reset (its server removed and added again, state re-created): no rate. */
const wentBack = (c: CounterT, p: CounterT | undefined) => p !== undefined && (c.packets < p.packets || c.bytes < p.bytes);

/** The counters with `reset: true` where one went back since `prev`. */
function marked(cur: Record<string, CounterT>, prev: Record<string, CounterT> | undefined): Record<string, Row> {
  return Object.fromEntries(Object.entries(cur).map(([k, c]) => [k, wentBack(c, prev?.[k]) ? { ...c, reset: true as const } : c]));
}

function rows(cur: Record<string, CounterT>, prev: Record<string, CounterT> | undefined, secs: number): (string | number)[][] {
  return Object.entries(cur).map(([k, c]) => {
    if (!prev) return [k, String(c.packets), String(c.bytes)];
    const p = prev[k];
    if (wentBack(c, p)) return [k, String(c.packets), String(c.bytes), 'reset', 'reset'];
    // a key new since the last print started from zero
    const rate = (a: bigint, b: bigint) => (Number(a - b) / secs).toFixed(1);
    return [k, String(c.packets), String(c.bytes), rate(c.packets, p?.packets ?? 0n), rate(c.bytes, p?.bytes ?? 0n)];
  });
}

type AnyMap = BpfMap<unknown, unknown> | PerCpuMap<unknown, unknown>;

/** Whether `m` is still the map pinned at `p`: detach unpins it (the open fd would go on showing stale numbers), a new attach pins another. */
async function stillPinned(m: AnyMap, p: string): Promise<boolean> {
  const { PerCpuMap, openPinnedMap, openPinnedPerCpuMap } = await import('../../bpf/map.js');
  const { raw } = await import('../../bpf/codec.js');
  const k = raw(m.info.keySize);
  const v = raw(m.info.valueSize);
  let again: AnyMap;
  try {
    again = m instanceof PerCpuMap ? openPinnedPerCpuMap(p, k, v) : openPinnedMap(p, k, v);
  } catch {
    return false;
  }
  try {
    return again.info.id === m.info.id;
  } finally {
    again.close();
  }
}

export function statsCommand(): Command {
  return new Command('stats')
    .description('packets and bytes per reason, and steered packets and bytes per owner, summed over CPUs')
    .option('--json', 'machine-readable output (with --watch: one JSON object per line; a counter that went back has "reset": true)')
    .option('--watch <seconds>', `print again every <seconds> (${WATCH_MIN}..${WATCH_MAX}), with rates; stops when the pinned state goes away`)
    .option('--count <n>', 'with --watch: stop after <n> prints (default: until interrupted)')
    .option('--prometheus', "print the metrics once as Prometheus text (the agent's /metrics without its own metrics), for node_exporter's textfile collector")
    .action(async (opts: { json?: boolean; watch?: string; count?: string; prometheus?: boolean }, cmd: Command) => {
      const { UsageError, RuntimeError, requireCaps } = await import('../../control/errors.js');
      if (opts.prometheus && (opts.json || opts.watch !== undefined || opts.count !== undefined))
        throw new UsageError('stats: --prometheus prints the Prometheus text once; it takes no --json, --watch or --count');
      const watch = opts.watch === undefined ? undefined : Number(opts.watch);
      if (watch !== undefined && !(watch >= WATCH_MIN && watch <= WATCH_MAX)) throw new UsageError(`bad --watch '${opts.watch}': seconds, ${WATCH_MIN} to ${WATCH_MAX}`);
      if (opts.count !== undefined && watch === undefined) throw new UsageError('stats: --count needs --watch (it counts the prints of --watch)');
      const count = opts.count === undefined ? Infinity : Number(opts.count);
      if (opts.count !== undefined && !(Number.isInteger(count) && count >= 1)) throw new UsageError(`bad --count '${opts.count}': a whole number of at least 1`);
      requireCaps('stats');
      const { pinPath } = globals(cmd);
      const { PinnedState } = await import('../../control/state.js');
      const st = PinnedState.open(pinPath);
      if (!st) throw new RuntimeError(`no quicsteer state under ${pinPath}: nothing is attached`);
      if (opts.prometheus) {
        st.close();
        const { metricsText } = await import('../../agent/metrics.js');
        out(await metricsText(pinPath));
        return;
      }
      const watched: [AnyMap, string][] = [
        [st.stats as PerCpuMap<unknown, unknown>, 'qs_stats'],
        [st.serverStats as PerCpuMap<unknown, unknown>, 'qs_server_stats'],
      ];
      try {
        let prev: Counters | undefined;
        for (let i = 0; i < (watch === undefined ? 1 : count); i++) {
          if (i > 0) {
            await new Promise((r) => setTimeout(r, watch! * 1000));
            const here = await Promise.all(watched.map(([m, name]) => stillPinned(m, path.join(pinPath, name))));
            if (!here.every(Boolean))
              throw new RuntimeError(`the pinned state under ${pinPath} went away (detached?): stopping`, 'state-gone');
          }
          const cur = st.counters();
          if (opts.json) {
            const rates = prev && watch ? { interval: watch } : {};
            out(json({ ...rates, reasons: marked(cur.reasons, prev?.reasons), servers: marked(cur.servers, prev?.servers), quicLbDecrypted: cur.decrypted, gquic: byForm(marked(cur.gquic, prev?.gquic)) }));
          } else {
            const h = prev ? ['PACKETS', 'BYTES', 'PKT/S', 'BYTES/S'] : ['PACKETS', 'BYTES'];
            out(`${i > 0 ? '\n' : ''}${table(['REASON', ...h], rows(cur.reasons, prev?.reasons, watch ?? 1))}`);
            if (Object.keys(cur.servers).length) out(`\n${table(['STEERED TO', ...h], rows(cur.servers, prev?.servers, watch ?? 1))}`);
            // encrypted QUIC-LB: how many CIDs took AES (the rest hit the decrypt-once cache)
            if (cur.decrypted > 0n) out(`\nquic-lb CIDs decrypted (cache misses): ${cur.decrypted}\n`);
            // gQUIC packets by form and reason (also counted above by reason)
            const g = moved(cur.gquic, prev?.gquic);
            if (Object.keys(g).length) out(`\n${table(['GQUIC', ...h], rows(g, prev?.gquic, watch ?? 1))}`);
          }
          prev = cur;
        }
      } finally {
        st.close();
      }
    });
}
