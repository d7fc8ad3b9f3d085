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
import { agentCommand } from './commands/agent.js';
import { probeCommand } from './commands/probe.js';
import { UsageError } from '../control/errors.js';
import { VERSION } from '../version.js';

export { VERSION };

/** `quicsteer vips add`: the words a user types to reach `c`. */
export function commandPath(c: Command): string {
  const names: string[] = [];
  for (let x: Command | null = c; x; x = x.parent) names.unshift(x.name());
  return names.join(' ');
}

/** Builds the command tree. With `jsonErrors`, commander prints nothing: main reports its errors as JSON. */
export function buildProgram(o: { jsonErrors?: boolean } = {}): Command {
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
      const raw = (cmd.opts() as { wait: string }).wait;
      const w = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
      if (!(w >= 0 && w <= 3600)) throw new UsageError(`bad --wait '${(cmd.opts() as { wait: string }).wait}': seconds, 0 to 3600`);
      const { setLockWait } = await import('../control/lock.js');
      setLockWait(w);
    })
    // commander's help command takes one name: `help vips add` would show `vips`
    .helpCommand(false);
  for (const c of [attachCommand(), detachCommand(), resetCommand(), statusCommand(), vipsCommand(), serversCommand(), statsCommand(), cidCommand(), applyCommand(), directorCommand(), probeCommand(), realserverCommand(), demoCommand(), agentCommand()])
    program.addCommand(c);
  program
    .command('help')
    .description('display help for a command (e.g. quicsteer help vips add)')
    .argument('[command...]', 'the command path')
    .action((names: string[]) => {
      let c: Command = program;
      for (const n of names) {
        const sub = c.commands.find((x) => x.name() === n || x.aliases().includes(n));
        if (!sub) throw new UsageError(`help: unknown command '${[...commandPath(c).split(' ').slice(1), n].join(' ')}' (quicsteer --help lists them)`);
        c = sub;
      }
      c.help();
    });
  // every command reports errors the same way, names its own full path in the hint, and never exits by itself
  const inherit = (c: Command) => {
    c.exitOverride().configureOutput({
      outputError: (s, write) => {
        if (!o.jsonErrors) write(s.replace(/^error: /, 'quicsteer: '));
      },
    });
    c.showHelpAfterError(o.jsonErrors ? false : `(${commandPath(c)} --help for usage)`);
    c.commands.forEach(inherit);
  };
  inherit(program);
  return program;
}

export interface CliError {
  /** stable: usage, bad-file, file, capabilities, kernel, state-gone, failed */
  code: string;
  message: string;
  exitCode: number;
  /** for code 'kernel': the errno name (EPERM, ...) */
  errno?: string;
}

/** One line for an error: ours as they are, a file's with its name, the kernel's first line with its code. */
export function describe(e: unknown): CliError {
  const err = e as { exitCode?: number; kind?: string; code?: string; errno?: number; message?: string; syscall?: string; path?: string };
  if (e instanceof CommanderError) return { code: 'usage', message: e.message.replace(/^error: /, ''), exitCode: e.exitCode === 0 ? 0 : 2 };
  if (err && typeof err.exitCode === 'number') return { code: err.kind ?? (err.exitCode === 2 ? 'usage' : 'failed'), message: err.message!, exitCode: err.exitCode };
  // Node's fs errors carry the path (and a negative errno): a file problem, not the kernel refusing BPF
  if (err && typeof err.code === 'string' && typeof err.path === 'string') {
    const why = /^[A-Z0-9_]+: ([^,]+)/.exec(err.message ?? '')?.[1];
    return { code: 'file', message: `cannot ${err.syscall ?? 'use'} ${err.path}: ${err.code}${why ? ` (${why})` : ''}`, exitCode: 1 };
  }
  if (err && typeof err.errno === 'number' && err.errno > 0 && typeof err.code === 'string' && typeof err.syscall === 'string') {
    const first = err.message!.split('\n')[0]!;
    const hint = err.code === 'EPERM' ? ' (CAP_BPF and CAP_NET_ADMIN needed)' : '';
    return { code: 'kernel', message: `kernel refused: ${first}${hint}`, exitCode: 1, errno: err.code };
  }
  return { code: 'failed', message: e instanceof Error ? e.message : String(e), exitCode: 1 };
}

/** --json anywhere before `--` asks for machine-readable output, errors included. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).slice(2).includes('--json');
}

/** A reader that went away (`quicsteer stats | head -1`) ends the command quietly, as cat would. */
function quietOnEpipe(): void {
  for (const s of [process.stdout, process.stderr])
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
}

/** Runs the CLI: 0 ok, 1 runtime failure, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  quietOnEpipe();
  const jsonErrors = wantsJson(argv);
  const program = buildProgram({ jsonErrors });
  try {
    await program.parseAsync(argv);
    // a command whose answer is "no" (probe: dead) sets the exit code without an error, as grep does
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError && e.exitCode === 0) return 0;
    const d = describe(e);
    if (jsonErrors) process.stderr.write(`${JSON.stringify({ error: d })}\n`);
    // commander has printed its own line (and the usage hint) already
    else if (!(e instanceof CommanderError) && !(e as { reported?: boolean }).reported) process.stderr.write(`quicsteer: ${d.message}\n`);
    if (process.env.QUICSTEER_DEBUG) process.stderr.write(`${(e as Error).stack ?? ''}\n`);
    return d.exitCode;
  }
}
