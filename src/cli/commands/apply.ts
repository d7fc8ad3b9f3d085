// quicsteer apply -f <config.json> [--dry-run]: the whole configuration, as a printed diff applied all or nothing.
import { Command } from 'commander';
import { globals } from './common.js';
import { json, out } from '../output.js';

export function applyCommand(): Command {
  return new Command('apply')
    .description('make the pinned state match a configuration file (local id, interfaces, VIPs, servers); prints the diff')
    .requiredOption('-f, --file <config.json>', 'the configuration (see README)')
    .option('--dry-run', 'print the diff, change nothing')
    .option('--json', 'machine-readable output')
    .action(async (opts: { file: string; dryRun?: boolean; json?: boolean }, cmd: Command) => {
      const { ConfigFile, readConfigFile } = await import('../../control/schemas.js');
      const { requireCaps } = await import('../../control/errors.js');
      const cfg = readConfigFile(opts.file, ConfigFile);
      requireCaps('apply', { mount: !opts.dryRun });
      const { pinPath } = globals(cmd);
      const { desiredFrom, applyDesired } = await import('../../control/apply.js');
      const path = await import('node:path');
      const plan = applyDesired(pinPath, await desiredFrom(cfg, { keyBase: path.dirname(path.resolve(opts.file)) }), { dryRun: opts.dryRun });
      const gone = plan.removedState ? 'no interface left: pinned state removed\n' : '';
      if (opts.json) out(json({ dryRun: !!opts.dryRun, applied: !opts.dryRun && plan.changes.length > 0, changes: plan.changes, removedState: plan.removedState }));
      else out(plan.changes.length ? `${plan.changes.join('\n')}\n${opts.dryRun ? '(dry run: nothing changed)\n' : `applied\n${gone}`}` : 'no changes\n');
    });
}
