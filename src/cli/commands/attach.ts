// quicsteer attach <ifname> --id <server-id> [--mode native|generic] [--aes auto|table|kfunc] / quicsteer detach <ifname>
import { Command } from 'commander';
import { globals, SERVER_ID_HELP } from './common.js';
import { json, out } from '../output.js';

export function attachCommand(): Command {
  return new Command('attach')
    .description('load the program and attach it to <ifname> as a pinned link (idempotent; a new build is swapped in place)')
    .argument('<ifname>', 'the public interface')
    .requiredOption('--id <server-id>', `this server's ID: ${SERVER_ID_HELP}`)
    .option('--mode <mode>', 'native (driver) or generic (skb) XDP', 'native')
    .option(
      '--aes <impl>',
      "AES for encrypted QUIC-LB CIDs: table (pure BPF, every kernel), kfunc (the kernel's ecb(aes) through the BPF crypto kfuncs, Linux >= 6.10), auto (table: the faster one measured)",
      'auto',
    )
    .option('--force', "change this server's local ID when it already has another one (it applies to every interface)")
    .option('--json', 'machine-readable output')
    .action(async (ifname: string, opts: { id: string; mode: string; aes: string; force?: boolean; json?: boolean }, cmd: Command) => {
      const { parse, Ifname, ServerIdHex, Mode, Aes } = await import('../../control/schemas.js');
      const name = parse(Ifname, ifname, 'interface name');
      const id = parse(ServerIdHex, opts.id, '--id');
      const mode = parse(Mode, opts.mode, '--mode');
      const aes = parse(Aes, opts.aes, '--aes');
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('attach', { mount: true });
      const { attach } = await import('../../control/attach.js');
      const r = attach(globals(cmd).pinPath, name, id, mode, { force: !!opts.force, aes });
      out(opts.json ? json(r) : `${r.ifname}: program ${r.program} (${r.mode} mode, aes ${r.aes}, prog id ${r.progId}); local id ${id} ${r.localId}\n`);
    });
}

export function detachCommand(): Command {
  return new Command('detach')
    .description('detach the program from <ifname> (or, for a link whose interface is gone, its ifindex); after the last interface every pinned object is removed')
    .argument('[ifname]', 'an attached interface, or the ifindex of a defunct link')
    .option('--all', 'every interface under the pin path, defunct links included')
    .option('--json', 'machine-readable output')
    .action(async (ifname: string | undefined, opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      const { UsageError, requireCaps } = await import('../../control/errors.js');
      if ((ifname === undefined) === !opts.all) throw new UsageError('detach: give an interface or --all');
      requireCaps('detach');
      const { detach, detachAll } = await import('../../control/attach.js');
      const pin = globals(cmd).pinPath;
      if (opts.all) {
        const r = detachAll(pin);
        if (opts.json) return out(json(r));
        const left = r.left.length ? `; left (not quicsteer's): ${r.left.join(', ')}` : '';
        return out(`${r.detached.length ? `detached ifindex ${r.detached.join(', ')}` : 'nothing was attached'}${r.removedState ? '; pinned state removed' : ''}${left}\n`);
      }
      const { parse, Ifname } = await import('../../control/schemas.js');
      const name = /^\d+$/.test(ifname!) ? ifname! : parse(Ifname, ifname, 'interface name');
      const r = detach(pin, name);
      out(opts.json ? json(r) : `${r.ifname}: ${r.detached ? 'detached' : `not attached under ${pin}`}${r.removedState ? '; no interface left, pinned state removed' : ''}${r.note ? `; ${r.note}` : ''}\n`);
    });
}

export function resetCommand(): Command {
  return new Command('reset')
    .description('remove everything quicsteer pinned under the pin path, whatever shape it is in (links detached, maps unpinned); other pins stay')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('reset', { mount: true });
      const { reset } = await import('../../control/attach.js');
      const pin = globals(cmd).pinPath;
      const r = reset(pin);
      if (opts.json) return out(json(r));
      out(`${r.removed.length ? `removed ${r.removed.join(', ')}` : `nothing of quicsteer's under ${pin}`}${r.left.length ? `; left (not quicsteer's): ${r.left.join(', ')}` : ''}\n`);
    });
}
