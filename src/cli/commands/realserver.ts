// quicsteer realserver setup --vip <ip>... | teardown: a real server's side of IPVS-DR.
import { Command, Option } from 'commander';
import { json, out } from '../output.js';

const stateOption = () =>
  new Option('--state <file>', "where setup records what it changed (default: this network namespace's own record under /run/quicsteer/realserver)").env(
    'QUICSTEER_REALSERVER_STATE',
  );

export function realserverCommand(): Command {
  const r = new Command('realserver').description("a real server's side of IPVS-DR: the VIPs on lo, ARP quiet about them");
  r.command('setup')
    .description('add each VIP to lo (/32 or /128, no DAD) and set arp_ignore=1, arp_announce=2 (idempotent)')
    .requiredOption('--vip <ip...>', 'the VIP addresses')
    .addOption(stateOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: { vip: string[]; state?: string; json?: boolean }) => {
      const { parse, IpAddress } = await import('../../control/schemas.js');
      const vips = opts.vip.map((v) => parse(IpAddress, v, '--vip'));
      const { checkVips, realserverSetup } = await import('../../realserver/setup.js');
      checkVips(vips);
      const { requireRoot } = await import('../../control/errors.js');
      requireRoot('realserver setup');
      const res = realserverSetup(opts.state, vips);
      if (opts.json) return out(json(res));
      for (const a of res.added) out(`lo: added ${a}\n`);
      for (const a of res.present) out(`lo: ${a} already there\n`);
      for (const s of res.sysctls) out(`set ${s}\n`);
    });
  r.command('teardown')
    .description('undo what setup changed in this network namespace, and only that')
    .addOption(stateOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: { state?: string; json?: boolean }) => {
      const { requireRoot } = await import('../../control/errors.js');
      requireRoot('realserver teardown');
      const { realserverTeardown } = await import('../../realserver/setup.js');
      const res = realserverTeardown(opts.state);
      if (opts.json) return out(json(res));
      if (res.incomplete) out('(setup had been interrupted: undoing what it recorded it would change)\n');
      for (const a of res.removed) out(`lo: removed ${a}\n`);
      for (const a of res.gone) out(`lo: ${a} already gone\n`);
      for (const s of res.restored) out(`restored ${s}\n`);
      if (!res.removed.length && !res.gone.length && !res.restored.length) out('nothing to undo\n');
    });
  return r;
}
