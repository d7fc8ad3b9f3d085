// quicsteer probe <addr>:<port> [--timeout <s>] [--json]: the health checks' QUIC probe, once; exit 0 alive, 1 dead.
import { Command } from 'commander';
import { HEALTH } from '../../control/health-ranges.js';
import { json, out } from '../output.js';

export function probeCommand(): Command {
  return new Command('probe')
    .description('send one QUIC datagram of a reserved version and wait for Version Negotiation, as director health does: exit 0 alive, 1 dead (no privileges needed)')
    .argument('<address>', '<ipv4>:<port> or [<ipv6>]:<port> (a real server\'s own address and its QUIC port)')
    .option('--timeout <seconds>', `how long to wait for the answer (whole seconds, ${HEALTH.timeout.min}-${HEALTH.timeout.max})`, String(HEALTH.timeout.default))
    .option('--json', 'one JSON object: {address, alive, ms?, versions?, reason?}')
    .action(async (address: string, opts: { timeout: string; json?: boolean }) => {
      const { parse, Endpoint, ProbeTimeout } = await import('../../control/schemas.js');
      const ep = parse(Endpoint, address, 'address');
      const timeout = parse(ProbeTimeout, opts.timeout, '--timeout');
      const { probeDetail } = await import('../../director/health.js');
      const { endpoint } = await import('../../director/ipvs.js');
      const where = endpoint(ep.ip, ep.port);
      const d = await probeDetail(ep.ip, ep.port, timeout * 1000);
      const versions = d.versions?.map((v) => `0x${v.toString(16).padStart(8, '0')}`);
      if (opts.json) out(json({ address: where, alive: d.alive, ...(d.alive ? { ms: d.ms, versions } : { reason: d.reason }) }));
      else out(d.alive ? `alive: ${where} answered Version Negotiation in ${d.ms} ms (versions ${versions!.join(' ')})\n` : `dead: ${where}: ${d.reason}\n`);
      // a dead server is an answer, not an error: exit 1 with the line above and nothing on stderr (as grep finding nothing)
      if (!d.alive) process.exitCode = 1;
    });
}
