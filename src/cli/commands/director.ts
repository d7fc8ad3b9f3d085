// quicsteer director apply -f <file> [--dry-run] [--health] | status | remove | health: IPVS-DR through ipvsadm.
import { Command, Option } from 'commander';
import { json, out, table } from '../output.js';

const stateOption = () =>
  new Option('--state <file>', 'where the director remembers what it manages').env('QUICSTEER_DIRECTOR_STATE').default('/var/lib/quicsteer/director.json');

async function loadFile(file: string) {
  const { DirectorFile } = await import('../../director/config.js');
  const { readConfigFile } = await import('../../control/schemas.js');
  return readConfigFile(file, DirectorFile);
}

async function health(file: Awaited<ReturnType<typeof loadFile>>, notify: string | undefined, asJson: boolean): Promise<void> {
  const { runHealth } = await import('../../director/health.js');
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const n = file.listeners.reduce((a, l) => a + l.realServers.length, 0);
  if (!asJson) out(`probing ${n} real server(s) of ${file.listeners.length} listener(s) with QUIC version negotiation\n`);
  await runHealth(file, {
    signal: ac.signal,
    notify,
    onTransition: (t) =>
      out(asJson ? json(t) : `${t.at} ${t.listener} ${t.realServer}${t.serverId ? ` (server ${t.serverId})` : ''}: ${t.from} -> ${t.to}${t.to === 'down' ? ', weight 0' : ', weight restored'}\n`),
  });
}

export function directorCommand(): Command {
  const d = new Command('director').description('the IPVS director: UDP listeners in direct-routing mode, and their health checks');
  d.command('apply')
    .description('make IPVS match the file (only services quicsteer manages are touched); prints the ipvsadm calls')
    .requiredOption('-f, --file <file>', 'listeners, schedulers, real servers, health checks (see README)')
    .option('--dry-run', 'print the calls, change nothing')
    .option('--health', 'then keep running the health checks')
    .option('--notify <program>', 'with --health: run <program> up|down <vip:port> <rs:port> [server-id] on each transition')
    .addOption(stateOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: { file: string; dryRun?: boolean; health?: boolean; notify?: string; state: string; json?: boolean }) => {
      const { requireCaps, UsageError } = await import('../../control/errors.js');
      if (opts.notify !== undefined && !opts.health) throw new UsageError('director apply: --notify runs on health transitions: it needs --health');
      if (opts.health && opts.dryRun) throw new UsageError('director apply: --dry-run changes nothing, so there is nothing for --health to keep up: give one of them');
      const file = await loadFile(opts.file);
      // a dry run only reads the table (and plans from an empty one without IPVS or privileges)
      if (!opts.dryRun) requireCaps('director apply', { bpf: false });
      const { directorApply } = await import('../../director/apply.js');
      const r = await directorApply(opts.state, file, !!opts.dryRun);
      const from = r.plannedFrom?.table === 'empty' ? `planned from an empty table: ${r.plannedFrom.reason}` : 'planned from ipvsadm -S -n';
      out(
        opts.json
          ? json({ dryRun: !!opts.dryRun, ...r })
          : r.calls.length
            ? `${r.calls.join('\n')}\n${opts.dryRun ? `(dry run, ${from}: nothing changed)` : 'applied'}\n`
            : `no changes${opts.dryRun ? ` (dry run, ${from})` : ''}\n`,
      );
      if (opts.health && !opts.dryRun) await health(file, opts.notify, !!opts.json);
    });
  d.command('status')
    .description('the services quicsteer manages, as IPVS has them now')
    .addOption(stateOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: { state: string; json?: boolean }) => {
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('director status', { bpf: false });
      const { directorStatus } = await import('../../director/apply.js');
      const { endpoint } = await import('../../director/ipvs.js');
      const s = await directorStatus(opts.state);
      const services = s.managed.map((x) => ({
        listener: endpoint(x.address, x.port),
        scheduler: x.scheduler,
        flags: x.flags,
        realServers: x.reals.map((r) => ({ address: endpoint(r.address, r.port), method: r.method === 'g' ? 'dr' : r.method === 'i' ? 'tunnel' : 'nat', weight: r.weight })),
      }));
      if (opts.json) return out(json({ services, missing: s.missing, others: s.others }));
      const sched = (x: (typeof services)[number]) => [x.scheduler, ...x.flags].join(' ');
      const rows = services.flatMap((x) => (x.realServers.length ? x.realServers.map((r) => [x.listener, sched(x), r.address, r.method, r.weight]) : [[x.listener, sched(x), '-', '-', '-']]));
      out(rows.length ? table(['LISTENER (UDP)', 'SCHED', 'REAL SERVER', 'METHOD', 'WEIGHT'], rows) : '(no managed services)\n');
      for (const m of s.missing) out(`missing from IPVS: ${m}\n`);
      if (s.others.length) out(`not managed by quicsteer (left alone): ${s.others.join(', ')}\n`);
    });
  d.command('remove')
    .description('remove every service quicsteer manages (and nothing else)')
    .addOption(stateOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: { state: string; json?: boolean }) => {
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('director remove', { bpf: false });
      const { directorRemove } = await import('../../director/apply.js');
      const r = await directorRemove(opts.state);
      out(opts.json ? json(r) : r.calls.length ? `${r.calls.join('\n')}\nremoved\n` : 'nothing to remove\n');
    });
  d.command('health')
    .description('probe real servers with QUIC version negotiation; unhealthy -> weight 0, healthy again -> weight back (runs until stopped)')
    .option('-f, --file <file>', 'the director file (default: the one last applied)')
    .option('--notify <program>', 'run <program> up|down <vip:port> <rs:port> [server-id] on each transition')
    .addOption(stateOption())
    .option('--json', 'one JSON object per transition')
    .action(async (opts: { file?: string; notify?: string; state: string; json?: boolean }) => {
      const { requireCaps, RuntimeError } = await import('../../control/errors.js');
      const file = opts.file ? await loadFile(opts.file) : undefined;
      requireCaps('director health', { bpf: false });
      const { readState, checkIpvs } = await import('../../director/apply.js');
      const f = file ?? readState(opts.state).file;
      if (!f) throw new RuntimeError(`nothing applied yet (${opts.state}): give -f or run director apply first`);
      // every transition sets a weight through ipvsadm: find out now, not at the first one
      await checkIpvs();
      await health(f, opts.notify, !!opts.json);
    });
  return d;
}
