// What every command shares: the global options, and --json.
import type { Command } from 'commander';
import { checkPinPath } from '../../control/bpffs.js';

export interface Globals {
  pinPath: string;
}

export function globals(cmd: Command): Globals {
  // an empty, relative, /proc or /sys path is refused before anything looks at it
  return { pinPath: checkPinPath((cmd.optsWithGlobals() as { pinPath: string }).pinPath) };
}

/** `--cid a --cid b`: a repeatable option with one value each (a variadic one would swallow the operands after it). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** What a <server-id> may be (src/control/schemas.ts ServerIdHex): wire hex, or an MsQuic setting. */
export const SERVER_ID_HELP = 'hex bytes as they appear in the CID (e.g. 0a0b), or msquic-ip:<address> / msquic-fixed:<uint32> (MsQuic SERVER_ID_IP / SERVER_ID_FIXED)';
