// quicsteer apply -f <config.json> [--dry-run]: the whole configuration, as a printed diff applied all or nothing.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { globals } from './common.js';
import { json, out } from '../output.js';

export function applyCommand(): Command {
  return new Command('apply')
    .description('make the pinned state match a configuration file (local id, interfaces, VIPs, servers); prints the diff')
    .requiredOption('-f, --file <config.json>', 'the configuration (see README)')
    .option('--dry-run', 'print the diff, change nothing')
    .option('--json', 'machine-readable output')
    .action(async (opts: { file: string; dryRun?: boolean; json?: boolean }, cmd: Command) => {
      const { ConfigFile, formatFileError } = await import('../../control/schemas.js');
      const { UsageError, RuntimeError, requireRoot } = await import('../../control/errors.js');
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(opts.file, 'utf8'));
      } catch (e) {
        throw (e as NodeJS.ErrnoException).code ? new RuntimeError(`cannot read ${opts.file}: ${(e as Error).message}`) : new UsageError(`${opts.file}: not JSON (${(e as Error).message})`);
      }
      const parsed = ConfigFile.safeParse(raw);
      if (!parsed.success) throw new UsageError(formatFileError(opts.file, parsed.error));
      requireRoot('apply');
      const { pinPath } = globals(cmd);
      const { desiredFrom, planAgainst, currentSnapshot, applyPlan } = await import('../../control/apply.js');
      const plan = planAgainst(currentSnapshot(pinPath), await desiredFrom(parsed.data));
      if (!opts.dryRun && plan.changes.length) applyPlan(pinPath, plan);
      if (opts.json) out(json({ dryRun: !!opts.dryRun, applied: !opts.dryRun && plan.changes.length > 0, changes: plan.changes }));
      else out(plan.changes.length ? `${plan.changes.join('\n')}\n${opts.dryRun ? '(dry run: nothing changed)\n' : 'applied\n'}` : 'no changes\n');
    });
}
