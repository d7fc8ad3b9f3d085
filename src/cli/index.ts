// Wires the quicsteer commands together; each command lives in commands/ and loads its logic lazily.
import { Command, CommanderError, Option } from 'commander';
import { attachCommand, detachCommand, resetCommand } from './commands/attach.js';
import { statusCommand } from './commands/status.js';
import { vipsCommand } from './commands/vips.js';
import { serversCommand } from './commands/servers.js';
import { statsCommand } from './commands/stats.js';
import { cidCommand } from './commands/cid.js';
import { applyCommand } from './commands/apply.js';
import { directorCommand } from './commands/director.js';
import { realserverCommand } from './commands/realserver.js';
import { demoCommand } from './commands/demo.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('quicsteer')
    .description('Steer QUIC packets that IPVS sent to the wrong real server back to the server that owns the connection ID.')
    .version(VERSION, '-V, --version')
    .addOption(
      new Option('--pin-path <dir>', 'where the pinned maps and links live (a bpffs; under `ip netns exec` use one outside /sys)')
        .env('QUICSTEER_PIN_PATH')
        .default('/sys/fs/bpf/quicsteer'),
    )
    .option('--wait <seconds>', 'how long a change waits for another writer of the same pin path (0-3600)', '10')
    .hook('preAction', async (cmd) => {
      const w = Number((cmd.opts() as { wait: string }).wait);
      const { UsageError } = await import('../control/errors.js');
      if (!(w >= 0 && w <= 3600)) throw new UsageError(`bad --wait '${(cmd.opts() as { wait: string }).wait}': seconds, 0 to 3600`);
      const { setLockWait } = await import('../control/lock.js');
      setLockWait(w);
    })
    .showHelpAfterError('(quicsteer --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s.replace(/^error: /, 'quicsteer: ')) });
  for (const c of [attachCommand(), detachCommand(), resetCommand(), statusCommand(), vipsCommand(), serversCommand(), statsCommand(), cidCommand(), applyCommand(), directorCommand(), realserverCommand(), demoCommand()])
    program.addCommand(c);
  // subcommands report errors the same way and never exit by themselves
  const inherit = (c: Command) => {
    c.exitOverride().configureOutput({ outputError: (s, write) => write(s.replace(/^error: /, 'quicsteer: ')) });
    c.showHelpAfterError(`(quicsteer ${c.name()} --help for usage)`);
    c.commands.forEach(inherit);
  };
  program.commands.forEach(inherit);
  return program;
}

/** One line for an error: ours as they are, the kernel's first line with its code. */
function describe(e: unknown): { message: string; code: number } {
  const err = e as { exitCode?: number; code?: string; errno?: number; message?: string; syscall?: string };
  if (err && typeof err.exitCode === 'number' && (err as Error).name !== 'CommanderError') return { message: err.message!, code: err.exitCode };
  if (err && typeof err.errno === 'number' && typeof err.code === 'string') {
    const first = err.message!.split('\n')[0]!;
    const hint = err.code === 'EPERM' ? ' (root with CAP_BPF and CAP_NET_ADMIN needed)' : '';
    return { message: `kernel refused: ${first}${hint}`, code: 1 };
  }
  return { message: e instanceof Error ? e.message : String(e), code: 1 };
}

/** Runs the CLI: 0 ok, 1 runtime failure, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const { message, code } = describe(e);
    process.stderr.write(`quicsteer: ${message}\n`);
    if (process.env.QUICSTEER_DEBUG) process.stderr.write(`${(e as Error).stack ?? ''}\n`);
    return code;
  }
}
