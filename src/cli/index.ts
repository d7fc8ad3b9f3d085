// Wires the quicsteer commands together; each command lives in commands/ and loads what it needs lazily.
import { Command, CommanderError } from 'commander';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  return new Command('quicsteer')
    .description('Steer QUIC packets that IPVS sent to the wrong real server back to the server that owns the connection ID.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(quicsteer --help for usage)')
    .exitOverride();
}

/** Runs the CLI: 0 ok, 1 runtime failure, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version arrive here with exit code 0
      return e.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`quicsteer: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
