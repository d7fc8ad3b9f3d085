// quicsteer servers add <id> (--mac|--ip) [--dev] | set <id> --state | remove <id> | list [--json]
import { Command } from 'commander';
import { globals, SERVER_ID_HELP } from './common.js';
import { json, out, table } from '../output.js';

export function serversCommand(): Command {
  const servers = new Command('servers').description('the real servers by server ID: where each owner is reached');
  servers
    .command('add')
    .description('add a server (or change it); its MAC directly or from the neighbour table')
    .argument('<server-id>', SERVER_ID_HELP)
    .option('--mac <mac>', "the owner's MAC")
    .option('--ip <addr>', "the owner's address on the link: its MAC is read from the neighbour table (probed if absent)")
    .option('--dev <ifname>', 'reach the owner through this interface (devmap redirect) instead of the ingress one')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { mac?: string; ip?: string; dev?: string; json?: boolean }, cmd: Command) => {
      const { parse, ServerIdHex, Mac, IpAddress, Ifname } = await import('../../control/schemas.js');
      const { UsageError, requireCaps } = await import('../../control/errors.js');
      const sid = parse(ServerIdHex, id, 'server ID');
      if ((opts.mac === undefined) === (opts.ip === undefined)) throw new UsageError('servers add: give exactly one of --mac and --ip');
      const mac = opts.mac === undefined ? undefined : parse(Mac, opts.mac, '--mac');
      const ip = opts.ip === undefined ? undefined : parse(IpAddress, opts.ip, '--ip');
      const dev = opts.dev === undefined ? undefined : parse(Ifname, opts.dev, '--dev');
      requireCaps('servers add', { mount: true });
      const { resolveServer, serversAdd } = await import('../../control/config.js');
      const s = await resolveServer(sid, { mac, ip, dev });
      const r = serversAdd(globals(cmd).pinPath, s);
      out(opts.json ? json({ id: sid, mac: s.mac, result: r }) : `server ${sid} (${s.mac}): ${r}\n`);
    });
  servers
    .command('set')
    .description("change a server's state: up, down (never steered to) or drain (keeps what reaches it, gets nothing steered)")
    .argument('<server-id>', SERVER_ID_HELP)
    .requiredOption('--state <state>', 'up, down or drain')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { state: string; json?: boolean }, cmd: Command) => {
      const { parse, ServerIdHex, State } = await import('../../control/schemas.js');
      const sid = parse(ServerIdHex, id, 'server ID');
      const state = parse(State, opts.state, '--state');
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('servers set');
      const { serversSet } = await import('../../control/config.js');
      const r = serversSet(globals(cmd).pinPath, sid, state);
      out(opts.json ? json({ id: sid, state, result: r }) : `server ${sid}: ${state} (${r})\n`);
    });
  servers
    .command('remove')
    .description('remove a server')
    .argument('<server-id>', SERVER_ID_HELP)
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const { parse, ServerIdHex } = await import('../../control/schemas.js');
      const sid = parse(ServerIdHex, id, 'server ID');
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('servers remove');
      const { serversRemove } = await import('../../control/config.js');
      const r = serversRemove(globals(cmd).pinPath, sid);
      out(opts.json ? json({ id: sid, result: r }) : `server ${sid}: ${r}\n`);
    });
  servers
    .command('list')
    .description('list servers')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('servers list');
      const { serversList } = await import('../../control/config.js');
      const list = serversList(globals(cmd).pinPath).map((s) => ({ id: s.id, mac: s.mac, state: s.state, dev: s.dev, slot: s.slot }));
      out(opts.json ? json(list) : list.length ? table(['SERVER', 'MAC', 'STATE', 'DEV'], list.map((s) => [s.id, s.mac, s.state, s.dev ?? '-'])) : '(no servers)\n');
    });
  return servers;
}
