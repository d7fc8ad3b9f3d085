// quicsteer demo [--event e] [--upload MiB] [--download MiB] [--sweep-only]: the migration lab on this kernel, with and
// without quicsteer; it first sweeps what runs killed before their cleanup left (--sweep-only: just that).
import { Command, Option } from 'commander';
import { json, out } from '../output.js';

const EVENTS = ['nat-rebinding', 'migration', 'client-rebinding'] as const;

export function demoCommand(): Command {
  return new Command('demo')
    .description('show a QUIC connection surviving an address change with quicsteer, and breaking without it (namespaces on this machine; root)')
    .addOption(new Option('--event <event>', 'what changes the client address').choices(EVENTS).default('nat-rebinding'))
    .option('--upload <MiB>', 'MiB the client uploads (at least 8: the upload must still run at the change)', '8')
    .option('--download <MiB>', 'MiB the client downloads (at least 8: the transfer must outlast the change)', '20')
    .option('--sweep-only', 'only remove what earlier lab runs killed before their cleanup left (namespaces, bpffs mounts, processes, temp dirs), then exit')
    .option('--json', 'machine-readable output')
    .action(async (opts: { event: (typeof EVENTS)[number]; upload: string; download: string; sweepOnly?: boolean; json?: boolean }) => {
      const { UsageError, requireRoot } = await import('../../control/errors.js');
      const mib = (v: string, name: string, min: number) => {
        if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > 256) throw new UsageError(`${name} must be a whole number of MiB, ${min}..256: '${v}'`);
        return Number(v);
      };
      // at 50 Mbit/s the upload must still run at the change, 1 s in: a client done uploading sends
      // nothing a NAT rebinding could move, until the server's data reaches it (it never does)
      const uploadMiB = mib(opts.upload, '--upload', 8);
      // at 50 Mbit/s the download must outlast the change, 1 s in
      const downloadMiB = mib(opts.download, '--download', 8);
      requireRoot('demo');
      if (opts.sweepOnly) {
        const { sweep, describeSweep } = await import('../../lab/owner.js');
        const swept = sweep();
        out(opts.json ? json({ swept }) : `${describeSweep(swept)}\n`);
        return;
      }
      const { demo } = await import('../../lab/demo.js');
      const res = await demo({ event: opts.event, uploadMiB, downloadMiB, ...(opts.json ? {} : { say: (l: string) => out(`${l}\n`) }) });
      if (opts.json) out(json(res));
    });
}
