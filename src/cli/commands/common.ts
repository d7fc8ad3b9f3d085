// What every command shares: the global options, and --json.
import type { Command } from 'commander';

export interface Globals {
  pinPath: string;
}

export function globals(cmd: Command): Globals {
  return { pinPath: (cmd.optsWithGlobals() as { pinPath: string }).pinPath };
}
