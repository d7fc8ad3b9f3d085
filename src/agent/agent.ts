// quicsteer agent: converges the pinned state to the apply file and keeps it there. At start it
// applies the file (and swaps this build's program in where another runs: an upgrade), then reloads
// on SIGHUP and on file changes (debounced), probes the peers the file gives a probe address, marks
// one down when it stops answering and up when it answers again, and on SIGTERM exits leaving the
// data path attached. One log line per event on stdout (journald), text or JSON.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { native } from '../bpf/native.js';
import { applyDesired, desiredFrom, type Desired } from '../control/apply.js';
import { detachAll, refreshPrograms } from '../control/attach.js';
import { serversSet } from '../control/config.js';
import { ConfigFile, readConfigFile, type ConfigFileT, type HealthT } from '../control/schemas.js';
import { readOnly } from '../control/status.js';
import { HealthTracker, probeLoop, type Health } from '../director/health.js';
import { endpoint } from '../director/ipvs.js';
import { describe } from '../cli/index.js';
import type { AgentView } from './metrics.js';

export type LogFormat = 'text' | 'json';
type Level = 'info' | 'warning' | 'error';

export interface AgentOptions {
  file: string;
  pin: string;
  logFormat: LogFormat;
  /** detach every interface (and remove the state) on SIGTERM/SIGINT instead of leaving the data path running */
  detachOnExit: boolean;
  /** how long file events settle before a reload (ms) */
  debounceMs?: number;
  /** where log lines go (default: stdout) */
  write?: (line: string) => void;
}


// journald reads a "<N>" prefix as the line's syslog priority (SyslogLevelPrefix=, on by default)
const PRIORITY: Record<Level, number> = { error: 3, warning: 4, info: 6 };

export class Logger {
  readonly #journal = !!process.env.JOURNAL_STREAM;
  constructor(
    readonly format: LogFormat,
    readonly write: (line: string) => void = (l) => process.stdout.write(l),
  ) {}

  log(level: Level, event: string, msg: string, fields: Record<string, unknown> = {}): void {
    if (this.format === 'json') {
      this.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, msg, ...fields }, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
      return;
    }
    this.write(`${this.#journal ? `<${PRIORITY[level]}>` : ''}${level}: ${msg.replace(/\n/g, ' ')}\n`);
  }
}

interface Peer {
  id: string;
  address: string;
  port: number;
  /** the probe settings it runs with (a change restarts its loop) */
  key: string;
  tracker: HealthTracker;
  stop: AbortController;
  loop: Promise<void>;
}


export class Agent implements AgentView {
  readonly log: Logger;
  #cfg: ConfigFileT | null = null;
  #desired: Desired | null = null;
  readonly #peers = new Map<string, Peer>();
  readonly #applies = { success: 0, failure: 0 };
  /** every change to the kernel goes through this chain: never two at once from this process */
  #queue: Promise<unknown> = Promise.resolve();
  #watcher: FSWatcher | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(readonly o: AgentOptions) {
    this.log = new Logger(o.logFormat, o.write);
  }

  applies(): { success: number; failure: number } {
    return { ...this.#applies };
  }

  peers(): { id: string; address: string; up: boolean }[] {
    return [...this.#peers.values()].map((p) => ({ id: p.id, address: endpoint(p.address, p.port), up: p.tracker.state === 'up' }));
  }

  /** Reads and checks the file and everything it names (interfaces, key files, neighbours): nothing is touched. */
  async #load(): Promise<{ cfg: ConfigFileT; desired: Desired }> {
    const cfg = readConfigFile(this.o.file, ConfigFile);
    const desired = await desiredFrom(cfg, { keyBase: path.dirname(path.resolve(this.o.file)) });
    return { cfg, desired };
  }

  /** The file's configuration with the peers found dead marked down (a server the file has as down or drain stays so). */
  #withHealth(d: Desired): Desired {
    return { ...d, servers: d.servers.map((s) => (s.state === 'up' && this.#peers.get(s.id)?.tracker.state === 'down' ? { ...s, state: 'down' } : s)) };
  }

  #generation(): string {
    return readOnly(this.o.pin, (st) => String(st.generation().seq), '(none)');
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Applies the file at start; throws (nothing changed) when the file is bad or the first apply fails. */
  async start(): Promise<void> {
    const { cfg, desired } = await this.#load();
    this.#cfg = cfg;
    this.#desired = desired;
    this.#syncPeers(cfg, 'start');
    try {
      this.#apply('start');
    } catch (e) {
      this.#stopPeers();
      throw e;
    }
    // this build's program on every interface: after an upgrade, the new one goes in with one link update each
    for (const s of refreshPrograms(this.o.pin))
      this.log.log('info', 'upgraded', `program on ${s.ifname} replaced in place by this build's: prog ${s.from} -> ${s.to}`, { interface: s.ifname, from: s.from, to: s.to });
    this.#watch();
  }

  /** One apply of the file (with health marks) under the writer lock; logs the diff. Throws on failure. */
  #apply(trigger: string): void {
    try {
      const plan = applyDesired(this.o.pin, this.#withHealth(this.#desired!));
      this.#applies.success++;
      const generation = this.#generation();
      if (plan.changes.length)
        this.log.log('info', 'applied', `applied (${trigger}), generation ${generation}: ${plan.changes.join('; ')}`, { trigger, generation, changes: plan.changes });
      else this.log.log('info', 'unchanged', `no changes (${trigger}), generation ${generation}`, { trigger, generation });
      if (plan.removedState) this.log.log('info', 'removed', 'no interface left: pinned state removed', { trigger });
    } catch (e) {
      this.#applies.failure++;
      throw e;
    }
  }

  /** SIGHUP or a file change: a bad file or a failed apply is one log line, and the running configuration stays. */
  reload(trigger: string): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#stopped) return;
      let next: { cfg: ConfigFileT; desired: Desired };
      try {
        next = await this.#load();
      } catch (e) {
        this.#applies.failure++;
        this.log.log('error', 'refused', `${trigger}: refused, the running configuration stays: ${describe(e).message}`, { trigger, error: describe(e).message });
        return;
      }
      const before = { cfg: this.#cfg, desired: this.#desired };
      this.#cfg = next.cfg;
      this.#desired = next.desired;
      this.#syncPeers(next.cfg, trigger);
      try {
        this.#apply(trigger);
      } catch (e) {
        this.log.log('error', 'failed', `${trigger}: apply failed, nothing changed: ${describe(e).message}`, { trigger, error: describe(e).message });
        // the peers go back to the configuration that runs
        this.#cfg = before.cfg;
        this.#desired = before.desired;
        if (before.cfg) this.#syncPeers(before.cfg, 'revert');
      }
    });
  }


  /** Starts, restarts and stops probe loops so that exactly the file's probed peers are probed, with its settings. */
  #syncPeers(cfg: ConfigFileT, trigger: string): void {
    const h = cfg.health;
    const want = new Map<string, { address: string; port: number; key: string }>();
    if (h.enabled)
      for (const s of cfg.servers)
        if (s.probe && s.id !== cfg.localId) want.set(s.id, { address: s.probe.ip, port: s.probe.port, key: JSON.stringify([s.probe, h]) });
    for (const [id, p] of this.#peers) {
      if (want.get(id)?.key === p.key) continue;
      p.stop.abort();
      this.#peers.delete(id);
      if (!want.has(id)) this.log.log('info', 'probe-stopped', `peer ${id}: no longer probed (${trigger})`, { server: id });
    }
    // a new peer starts down when the live table has it down though the file says up (what the last agent learned)
    let liveDown: Set<string> | null = null;
    const initial = (id: string): Health => {
      liveDown ??= new Set(readOnly(this.o.pin, (st) => st.readServers(), []).filter((s) => s.state === 'down').map((s) => s.id));
      return liveDown.has(id) && cfg.servers.find((s) => s.id === id)?.state === 'up' ? 'down' : 'up';
    };
    for (const [id, w] of want) {
      if (this.#peers.has(id)) continue;
      const tracker = new HealthTracker(initial(id), h as HealthT);
      const stop = new AbortController();
      const peer: Peer = { id, ...w, tracker, stop, loop: Promise.resolve() };
      peer.loop = probeLoop({ address: w.address, port: w.port }, tracker, stop.signal, (to) => this.#transition(peer, to));
      this.#peers.set(id, peer);
      this.log.log('info', 'probing', `peer ${id}: probing ${endpoint(w.address, w.port)} every ${h.interval} s (timeout ${h.timeout} s, down after ${h.unhealthyThreshold}, up after ${h.healthyThreshold}), starts ${tracker.state}`, {
        server: id,
        probe: endpoint(w.address, w.port),
        state: tracker.state,
      });
    }
  }

  #stopPeers(): void {
    for (const p of this.#peers.values()) p.stop.abort();
  }

  /** A peer changed state: its entry in the table follows (when the file has it up), under the writer lock. */
  #transition(p: Peer, to: Health): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#stopped || p.stop.signal.aborted) return;
      const why = to === 'down' ? `${p.tracker.fails} probes unanswered` : `${p.tracker.oks} probes answered`;
      const file = this.#cfg!.servers.find((s) => s.id === p.id);
      const probe = endpoint(p.address, p.port);
      if (file?.state !== 'up') {
        this.log.log('info', 'peer', `peer ${p.id} (${probe}) ${to}: ${why}; the file has it ${file?.state ?? 'absent'}, so the table keeps that`, { server: p.id, probe, health: to });
        return;
      }
      try {
        const r = serversSet(this.o.pin, p.id, to);
        this.#applies.success++;
        this.log.log(to === 'down' ? 'warning' : 'info', 'peer', `peer ${p.id} (${probe}) ${to}: ${why}; ${r === 'unchanged' ? `already ${to} in the table` : `marked ${to}`}, generation ${this.#generation()}`, {
          server: p.id,
          probe,
          health: to,
          table: r,
        });
      } catch (e) {
        this.#applies.failure++;
        this.log.log('error', 'failed', `peer ${p.id} (${probe}) ${to}: could not mark it: ${describe(e).message}`, { server: p.id, probe, health: to, error: describe(e).message });
      }
    });
  }

  /** inotify on the file's folder (editors replace files by rename), settled for debounceMs. */
  #watch(): void {
    const dir = path.dirname(path.resolve(this.o.file));
    const base = path.basename(this.o.file);
    this.#watcher = watch(dir, { persistent: true }, (_ev, name) => {
      if (name !== null && name !== base) return;
      if (this.#debounce) clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => {
        this.#debounce = null;
        void this.reload('file changed');
      }, this.o.debounceMs ?? 300);
    });
    this.#watcher.on('error', (e) => this.log.log('error', 'watch', `watching ${dir} failed: ${describe(e).message}; SIGHUP still reloads`, { error: describe(e).message }));
  }

  /** Stops probing and watching; the data path stays attached unless detachOnExit. */
  async stop(signal: string): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#watcher?.close();
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#stopPeers();
    await this.#queue;
    await Promise.all([...this.#peers.values()].map((p) => p.loop));
    if (this.o.detachOnExit) {
      const r = detachAll(this.o.pin);
      this.log.log('info', 'stopped', `${signal}: stopped; detached ${r.detached.length} interface(s)${r.removedState ? ', pinned state removed' : ''} (--detach-on-exit)`, { signal, detached: r.detached.length });
    } else {
      const n = readOnly(this.o.pin, (st) => st.snapshot().links.length, 0);
      this.log.log('info', 'stopped', `${signal}: stopped; the data path stays attached (${n} interface(s), generation ${this.#generation()})`, { signal, interfaces: n });
    }
  }

  /** systemd's Type=notify, when run by it. */
  notify(state: string): void {
    try {
      native().sdNotify(state);
    } catch (e) {
      this.log.log('warning', 'notify', `sd_notify failed: ${describe(e).message}`);
    }
  }
}
