// quicsteer director apply -f <file> [--dry-run] [--health] | status | remove | health: IPVS-DR through ipvsadm;
// director keepalived -f <file>: the same listeners as a keepalived configuration.
import { Command, Option } from 'commander';
import { collect } from './common.js';
import { json, out, table, warn } from '../output.js';

const stateOption = () =>
  new Option('--state <file>', 'where the director remembers what it manages').env('QUICSTEER_DIRECTOR_STATE').default('/var/lib/quicsteer/director.json');

async function loadFile(file: string) {
  const { DirectorFile } = await import('../../director/config.js');
  const { readConfigFile } = await import('../../control/schemas.js');
  return readConfigFile(file, DirectorFile);
}

async function health(file: Awaited<ReturnType<typeof loadFile>>, state: string, notify: string | undefined, asJson: boolean): Promise<void> {
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
    state,
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
      const r = await directorApply(opts.state, file, !!opts.dryRun, { health: !!opts.health });
      // --json carries them in its object; text output says them on stderr
      if (!opts.json) warn(r.warnings);
      const from = r.plannedFrom?.table === 'empty' ? `planned from an empty table: ${r.plannedFrom.reason}` : 'planned from ipvsadm -S -n';
      out(
        opts.json
          ? json({ dryRun: !!opts.dryRun, ...r })
          : r.calls.length
            ? `${r.calls.join('\n')}\n${opts.dryRun ? `(dry run, ${from}: nothing changed)` : 'applied'}\n`
            : `no changes${opts.dryRun ? ` (dry run, ${from})` : ''}\n`,
      );
      if (opts.health && !opts.dryRun) await health(file, opts.state, opts.notify, !!opts.json);
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
      const { zeroWeightWarnings } = await import('../../director/config.js');
      warn(zeroWeightWarnings(f, { health: true }));
      await health(f, opts.state, opts.notify, !!opts.json);
    });
  d.command('keepalived')
    .description('print a keepalived configuration for the file: IPVS-DR services checked by quicsteer probe, and with --vrrp a VRRP instance for the VIPs')
    .requiredOption('-f, --file <file>', 'the director file')
    .option('-o, --output <file>', 'write it to <file> (atomically, mode 0644) instead of stdout')
    .option('--quicsteer <path>', 'the quicsteer command keepalived runs to probe (absolute)', '/usr/local/bin/quicsteer')
    .option('--router-id <name>', "global_defs router_id (default: none, and keepalived uses the host's name)")
    .option('--notify <program>', 'notify_up/notify_down: run <program> up|down <vip:port> <rs:port> [server-id], as director health --notify does')
    .option('--vrrp <interface>', 'add a VRRP instance on <interface> that holds every listener VIP')
    .option('--vrrp-id <1-255>', 'with --vrrp (required): virtual_router_id, the same on both directors')
    .option('--priority <1-254>', 'with --vrrp: the priority (highest is master)', '100')
    .addOption(new Option('--state <state>', 'with --vrrp: the initial state').choices(['master', 'backup']).default('backup'))
    .option('--advert-int <seconds>', 'with --vrrp: seconds between adverts, 1-255 (IPv6 adverts: 1-40)', '1')
    .option('--nopreempt', 'with --vrrp (and --state backup): a higher priority director that comes back does not take the VIPs over')
    .option('--unicast-peer <ip>', 'with --vrrp: send adverts to this peer director (repeatable; for networks without multicast)', collect)
    .option('--vrrp-notify <program>', 'with --vrrp: run <program> on every state change (keepalived adds INSTANCE quicsteer MASTER|BACKUP|FAULT|STOP <priority>)')
    .action(async (opts: KeepalivedOpts, cmd: Command) => {
      const { UsageError } = await import('../../control/errors.js');
      const { parse, WholeNumber, Ifname, IpAddress } = await import('../../control/schemas.js');
      const vrrpOnly = ['vrrpId', 'priority', 'state', 'advertInt', 'nopreempt', 'unicastPeer', 'vrrpNotify'] as const;
      const given = vrrpOnly.filter((k) => cmd.getOptionValueSource(k) === 'cli');
      const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      if (opts.vrrp === undefined && given.length) throw new UsageError(`director keepalived: ${given.map(flag).join(', ')} configure the VRRP instance: give --vrrp <interface> too`);
      if (opts.vrrp !== undefined && opts.vrrpId === undefined) throw new UsageError('director keepalived: --vrrp needs --vrrp-id <1-255> (the virtual_router_id both directors share)');
      const vrrp =
        opts.vrrp === undefined
          ? undefined
          : {
              interface: parse(Ifname, opts.vrrp, '--vrrp'),
              id: parse(WholeNumber(1, 255), opts.vrrpId, '--vrrp-id'),
              priority: parse(WholeNumber(1, 254), opts.priority, '--priority'),
              state: opts.state,
              advertInt: parse(WholeNumber(1, 255, 'whole seconds'), opts.advertInt, '--advert-int'),
              nopreempt: !!opts.nopreempt,
              unicastPeers: (opts.unicastPeer ?? []).map((p) => parse(IpAddress, p, '--unicast-peer')),
              notify: opts.vrrpNotify,
            };
      const file = await loadFile(opts.file);
      const path = await import('node:path');
      const { keepalivedConfig } = await import('../../director/keepalived.js');
      const text = keepalivedConfig(file, {
        source: path.resolve(opts.file),
        output: opts.output === undefined ? undefined : path.resolve(opts.output),
        quicsteer: opts.quicsteer,
        routerId: opts.routerId,
        notify: opts.notify,
        vrrp,
      });
      // inhibit_on_failure takes a failed server to weight 0
      const { zeroWeightWarnings } = await import('../../director/config.js');
      warn(zeroWeightWarnings(file, { health: true }));
      if (opts.output === undefined) return out(text);
      const { writeFileAtomic } = await import('../../control/atomic.js');
      writeFileAtomic(opts.output, text, 0o644);
      out(`wrote ${opts.output}: ${file.listeners.length} virtual_server(s)${vrrp ? `, VRRP instance ${vrrp.id} on ${vrrp.interface}` : ''}\n`);
    });
  return d;
}

interface KeepalivedOpts {
  file: string;
  output?: string;
  quicsteer: string;
  routerId?: string;
  notify?: string;
  vrrp?: string;
  vrrpId?: string;
  priority: string;
  state: 'master' | 'backup';
  advertInt: string;
  nopreempt?: boolean;
  unicastPeer?: string[];
  vrrpNotify?: string;
}
