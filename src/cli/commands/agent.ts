// quicsteer agent -f <file>: the daemon that keeps the pinned state equal to an apply file (see src/agent/agent.ts).
import { Command, Option } from 'commander';
import { globals } from './common.js';

export function agentCommand(): Command {
  return new Command('agent')
    .description('run as a daemon: apply the file, reload it on change and SIGHUP, probe peers, serve metrics; SIGTERM leaves the data path attached')
    .requiredOption('-f, --file <config.json>', 'the configuration (the file quicsteer apply takes; see README "Operating quicsteer")')
    .option('--metrics <addr:port>', 'serve Prometheus metrics at http://<addr:port>/metrics (default 127.0.0.1:9915; "off" serves none)')
    .addOption(new Option('--log-format <format>', 'one line per event on stdout').choices(['text', 'json']).default('text'))
    .option('--detach-on-exit', 'on SIGTERM/SIGINT detach every interface (and remove the state) instead of leaving the data path running')
    .action(async (opts: { file: string; metrics?: string; logFormat: 'text' | 'json'; detachOnExit?: boolean }, cmd: Command) => {
      const { requireCaps } = await import('../../control/errors.js');
      const { pinPath } = globals(cmd);
      const { runAgent, metricsListen } = await import('../../agent/run.js');
      // a bad --metrics is refused before anything else
      const metrics = metricsListen(opts.metrics);
      requireCaps('agent', { mount: true });
      await runAgent({ file: opts.file, pin: pinPath, logFormat: opts.logFormat, detachOnExit: !!opts.detachOnExit, metrics });
    });
}
