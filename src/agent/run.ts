// The agent's process: signals, readiness (systemd Type=notify, and a "ready" line), metrics, exit.
import type { Server } from 'node:http';
import { Agent, type AgentOptions } from './agent.js';
import { describe } from '../cli/index.js';
import { holdAgentLock } from '../control/lock.js';
import { endpoint } from '../director/ipvs.js';
import { DEFAULT_METRICS, metricsRegistry, parseMetricsListen, serveMetrics, type Listen } from './metrics.js';

/** --metrics: an address and port, "off", or the default. */
export function metricsListen(v: string | undefined): Listen | null {
  if (v === undefined) return { ...DEFAULT_METRICS };
  if (v === 'off') return null;
  return parseMetricsListen(v);
}

export interface RunOptions extends AgentOptions {
  metrics: Listen | null;
}

/** Runs the agent until SIGTERM or SIGINT; a failed start is logged and thrown (exit 1 or 2; systemd restarts it). */
export async function runAgent(o: RunOptions): Promise<void> {
  // a second agent for the same pin path is refused before it reads anything
  const release = holdAgentLock(o.pin);
  const agent = new Agent(o);
  let server: Server | null = null;
  let stopping: string | null = null;
  let wake: (() => void) | null = null;
  const onStop = (sig: string) => () => {
    stopping ??= sig;
    wake?.();
  };
  const term = onStop('SIGTERM');
  const int = onStop('SIGINT');
  // a SIGHUP before the first apply is done is the same as none: start reads the file anyway
  let started = false;
  const hup = () => {
    if (!started || stopping) return;
    agent.notify(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
    void agent.reload('SIGHUP').then(() => agent.notify('READY=1'));
  };
  process.on('SIGTERM', term);
  process.on('SIGINT', int);
  process.on('SIGHUP', hup);
  try {
    agent.log.log('info', 'starting', `starting: ${o.file}, pin path ${o.pin}`, { file: o.file, pin: o.pin, pid: process.pid });
    try {
      // the port first: a start that cannot serve metrics changes nothing
      if (o.metrics) {
        server = await serveMetrics(o.metrics, metricsRegistry(o.pin, agent, { processMetrics: true }));
        server.on('error', (e) => agent.log.log('error', 'metrics', `metrics server: ${describe(e).message}`));
      }
      await agent.start();
    } catch (e) {
      const d = describe(e);
      agent.log.log('error', 'start-failed', `start failed, nothing changed: ${d.message}`, { error: d.message });
      throw Object.assign(e instanceof Error ? e : new Error(d.message), { reported: true, exitCode: d.exitCode });
    }
    started = true;
    const metrics = o.metrics ? `, metrics http://${endpoint(o.metrics.ip, o.metrics.port)}/metrics` : '';
    const peers = agent.peers();
    const status = `ready: ${o.file} applied${peers.length ? `, ${peers.length} peer(s) probed` : ''}${metrics}`;
    agent.log.log('info', 'ready', status, { peers: peers.length, metrics: o.metrics });
    agent.notify(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
    if (!stopping) await new Promise<void>((r) => (wake = r));
    agent.notify('STOPPING=1');
    await agent.stop(stopping!);
  } finally {
    process.off('SIGTERM', term);
    process.off('SIGINT', int);
    process.off('SIGHUP', hup);
    if (server) await new Promise((r) => server!.close(r));
    release();
  }
}
