// quicsteer attach <ifname> --id <server-id> [--mode native|generic] / quicsteer detach <ifname>
import { Command } from 'commander';
import { globals } from './common.js';
import { json, out } from '../output.js';

export function attachCommand(): Command {
  return new Command('attach')
    .description('load the program and attach it to <ifname> as a pinned link (idempotent; a new build is swapped in place)')
    .argument('<ifname>', 'the public interface')
    .requiredOption('--id <server-id>', "this server's ID, hex bytes as they appear in the CID (e.g. 0a0b)")
    .option('--mode <mode>', 'native (driver) or generic (skb) XDP', 'native')
    .option('--json', 'machine-readable output')
    .action(async (ifname: string, opts: { id: string; mode: string; json?: boolean }, cmd: Command) => {
      const { parse, Ifname, ServerIdHex, Mode } = await import('../../control/schemas.js');
      const name = parse(Ifname, ifname, 'interface name');
      const id = parse(ServerIdHex, opts.id, '--id');
      const mode = parse(Mode, opts.mode, '--mode');
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('attach', { mount: true });
      const { attach } = await import('../../control/attach.js');
      const r = attach(globals(cmd).pinPath, name, id, mode);
      out(opts.json ? json(r) : `${r.ifname}: program ${r.program} (${r.mode} mode, prog id ${r.progId}); local id ${id} ${r.localId}\n`);
    });
}

export function detachCommand(): Command {
  return new Command('detach')
    .description('detach the program from <ifname>; after the last interface every pinned object is removed')
    .argument('<ifname>', 'an attached interface')
    .option('--json', 'machine-readable output')
    .action(async (ifname: string, opts: { json?: boolean }, cmd: Command) => {
      const { parse, Ifname } = await import('../../control/schemas.js');
      const name = parse(Ifname, ifname, 'interface name');
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('detach');
      const { detach } = await import('../../control/attach.js');
      const r = detach(globals(cmd).pinPath, name);
      out(opts.json ? json(r) : `${r.ifname}: ${r.detached ? 'detached' : 'not attached'}${r.removedState ? '; no interface left, pinned state removed' : ''}\n`);
    });
}
