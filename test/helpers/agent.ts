// `quicsteer agent` as a real process in a test's network namespace: its JSON log lines as events.
// It runs under nsenter --net (not ip netns exec), so it shares the host's mount namespace and a
// bpffs it mounts itself outlives it, as on a host.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { claimChild } from '../../src/lab/owner.js';
import { ROOT } from './paths.js';

export interface AgentEvent {
  time: string;
  level: 'info' | 'warning' | 'error';
  event: string;
  msg: string;
  [k: string]: unknown;
}

const live = new Set<AgentProc>();
process.on('exit', () => {
  for (const a of live) a.kill('SIGKILL');
});

export class AgentProc {
  readonly events: AgentEvent[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #p: ChildProcess;
  #waiters: { pred: (e: AgentEvent) => boolean; resolve: (e: AgentEvent) => void }[] = [];

  constructor(
    readonly ns: string,
    readonly pin: string,
    readonly file: string,
    readonly args: string[] = [],
    /** another installation's quicsteer (test/helpers/installation.ts) */
    readonly shim = path.join(ROOT, 'scripts/quicsteer.mjs'),
  ) {
    this.#p = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, shim, '--pin-path', pin, 'agent', '-f', file, '--log-format', 'json', ...(args.includes('--metrics') ? [] : ['--metrics', 'off']), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: '/',
    });
    claimChild(this.#p);
    live.add(this);
    let buf = '';
    this.#p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const e = JSON.parse(line) as AgentEvent;
        this.events.push(e);
        this.#waiters = this.#waiters.filter((w) => (w.pred(e) ? (w.resolve(e), false) : true));
      }
    });
    this.#p.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.exited = new Promise((r) =>
      this.#p.on('exit', (code, signal) => {
        live.delete(this);
        r({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.#p.pid!;
  }

  /** The first event from now on (or already logged at or after `since`) that matches; rejects after `ms` or when the agent exits. */
  waitFor(pred: (e: AgentEvent) => boolean, ms = 30_000, since = this.events.length): Promise<AgentEvent> {
    const seen = this.events.slice(since).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (e: AgentEvent) => (clearTimeout(t), resolve(e)) };
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new Error(`agent in ${this.ns}: no matching event within ${ms} ms; events: ${this.events.map((e) => e.msg).join(' | ')}; stderr: ${this.stderr.join('')}`));
      }, ms);
      this.#waiters.push(w);
      void this.exited.then(({ code, signal }) => {
        if (!this.#waiters.includes(w)) return;
        clearTimeout(t);
        reject(new Error(`agent in ${this.ns} exited (${code ?? signal}) before a matching event; events: ${this.events.map((e) => e.msg).join(' | ')}; stderr: ${this.stderr.join('')}`));
      });
    });
  }

  ready(ms = 60_000): Promise<AgentEvent> {
    return this.waitFor((e) => e.event === 'ready', ms, 0);
  }

  kill(sig: NodeJS.Signals): void {
    try {
      this.#p.kill(sig);
    } catch {
      // gone
    }
  }

  /** SIGTERM, and the exit. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.kill('SIGTERM');
    return this.exited;
  }
}

/** GET http://<addr>/metrics from inside a namespace (where the agent's loopback is): the body, or throws with the status. */
export function scrapeIn(ns: string, addr: string): string {
  const js = `require('http').get('http://${addr}/metrics',(r)=>{let b='';r.on('data',(d)=>b+=d);r.on('end',()=>{if(r.statusCode!==200){console.error(r.statusCode+' '+b);process.exit(1)}process.stdout.write(b)})}).on('error',(e)=>{console.error(e.message);process.exit(1)})`;
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { encoding: 'utf8' });
}
