// Prometheus metrics of a pin path's state (and of the agent, given its view), every value read at
// scrape time; the registry that writes them, the HTTP endpoint that serves them, --metrics' parser.
import http from 'node:http';
import os from 'node:os';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { MAX_KEYS, PEER_SLOTS, Reasons, SERVER_SLOTS, VIP_SLOTS, type CounterT } from '../bpf/layout.js';
import { assignKeySlots } from '../datapath/install.js';
import { capacityOf } from '../datapath/tables.js';
import { PinnedState, type LinkView, type StateName } from '../control/state.js';
import { RuntimeError } from '../control/errors.js';
import { Endpoint, parse } from '../control/schemas.js';
import { VERSION } from '../version.js';
import { endpoint } from '../director/ipvs.js';

/** What the agent tells the metrics (stats --prometheus has no agent: these metrics are then absent). */
export interface AgentView {
  /** applies of the file since the agent started, by outcome */
  applies(): { success: number; failure: number };
  /** the peers its health checks probe: server ID (hex), the address probed, and the last verdict */
  peers(): { id: string; address: string; up: boolean }[];
}

export interface Listen {
  ip: string;
  port: number;
}

/** Loopback only (scrapers elsewhere need --metrics); 9915 is in the exporters' range of Prometheus' default port allocations, not registered there. */
export const DEFAULT_METRICS: Listen = { ip: '127.0.0.1', port: 9915 };

/** `--metrics <addr:port>`: an IPv4 address and port, or [IPv6]:port (UsageError otherwise). */
export function parseMetricsListen(value: string): Listen {
  return parse(Endpoint, value, '--metrics');
}

const TABLES = ['vips', 'servers', 'peers', 'keys'] as const;
type Table = (typeof TABLES)[number];
/** Entries each table holds: the open-addressed ones a quarter of their slots; keys: distinct QUIC-LB keys per generation. */
export const TABLE_CAPACITY: Record<Table, number> = { vips: capacityOf(VIP_SLOTS), servers: capacityOf(SERVER_SLOTS), peers: capacityOf(PEER_SLOTS), keys: MAX_KEYS };
const STATES: StateName[] = ['up', 'down', 'drain'];

/** One read of the pinned state: what every metric of a scrape shows. */
interface Reading {
  pinned: boolean;
  reasons: Record<string, CounterT>;
  servers: { id: string; state: StateName; counter: CounterT }[];
  decrypted: bigint;
  /** gQUIC packets by '<form> <reason>' */
  gquic: Record<string, CounterT>;
  entries: Record<Table, number>;
  seq: bigint;
  links: LinkView[];
}

const ZERO: CounterT = { packets: 0n, bytes: 0n };

/** Nothing pinned reads as an empty state: counters 0, tables empty, generation 0 (never published). */
function emptyReading(): Reading {
  return { pinned: false, reasons: Object.fromEntries(Reasons.map((r) => [r.toLowerCase(), ZERO])), servers: [], decrypted: 0n, gquic: {}, entries: { vips: 0, servers: 0, peers: 0, keys: 0 }, seq: 0n, links: [] };
}

function read(pin: string): Reading {
  const st = PinnedState.open(pin);
  if (!st) return emptyReading();
  try {
    // the tables once: counters and views of the same generation
    const img = st.image();
    const snap = st.snapshot(img);
    const c = st.counters(img);
    return {
      pinned: true,
      reasons: c.reasons,
      servers: snap.servers.map((s) => ({ id: s.id, state: s.state, counter: c.servers[s.id] ?? ZERO })),
      decrypted: c.decrypted,
      gquic: c.gquic,
      entries: { vips: img.vips.length, servers: img.servers.length, peers: img.peers.length, keys: assignKeySlots(img.vips).keys.length },
      seq: img.seq,
      links: snap.links,
    };
  } finally {
    st.close();
  }
}

/**
 * A registry of quicsteer's metrics for the state under `pin`, read when scraped; with `agent`, the
 * agent's applies and peer health too; with processMetrics, prom-client's process and Node.js ones.
 */
export function metricsRegistry(pin: string, agent?: AgentView, o: { processMetrics?: boolean } = {}): Registry {
  const reg = new Registry();
  // the registry collects every metric of a scrape at once: they share the read in flight, one per scrape
  let inFlight: Promise<Reading> | null = null;
  const reading = (): Promise<Reading> =>
    (inFlight ??= new Promise<Reading>((resolve) => resolve(read(pin))).finally(() => {
      inFlight = null;
    }));
  const registers = [reg];

  const perReason = (name: string, help: string, field: keyof CounterT) =>
    new Counter({
      name, help, labelNames: ['reason'], registers,
      async collect() {
        const r = await reading();
        this.reset();
        for (const [reason, c] of Object.entries(r.reasons)) this.inc({ reason }, Number(c[field]));
      },
    });
  perReason('quicsteer_packets_total', 'Packets the XDP program decided on, by reason (summed over CPUs).', 'packets');
  perReason('quicsteer_bytes_total', 'Bytes of the frames the XDP program decided on, by reason (summed over CPUs).', 'bytes');

  const perServer = (name: string, help: string, field: keyof CounterT) =>
    new Counter({
      name, help, labelNames: ['server'], registers,
      async collect() {
        const r = await reading();
        this.reset();
        for (const s of r.servers) this.inc({ server: s.id }, Number(s.counter[field]));
      },
    });
  perServer('quicsteer_steered_packets_total', 'Packets steered to each server of the table, by server ID (summed over CPUs; from 0 when the ID was added).', 'packets');
  perServer('quicsteer_steered_bytes_total', 'Bytes of the frames steered to each server of the table, by server ID (summed over CPUs).', 'bytes');

  // gQUIC: only the form and reason pairs that moved (4 forms x every reason would be mostly zeros)
  const perGquic = (name: string, help: string, field: keyof CounterT) =>
    new Counter({
      name, help, labelNames: ['form', 'reason'], registers,
      async collect() {
        const r = await reading();
        this.reset();
        for (const [k, c] of Object.entries(r.gquic)) {
          if (c.packets === 0n) continue;
          const [form, reason] = k.split(' ') as [string, string];
          this.inc({ form, reason }, Number(c[field]));
        }
      },
    });
  perGquic('quicsteer_gquic_packets_total', 'gQUIC packets on gQUIC VIPs by header form (q043, q046, q050 long headers; short: q046/q050) and reason; also counted in quicsteer_packets_total.', 'packets');
  perGquic('quicsteer_gquic_bytes_total', 'Bytes of the gQUIC frames by header form and reason.', 'bytes');

  new Counter({
    name: 'quicsteer_quic_lb_decrypts_total', help: 'Encrypted QUIC-LB connection IDs that took AES (misses of the decrypt-once cache).', registers,
    async collect() {
      const r = await reading();
      this.reset();
      this.inc(Number(r.decrypted));
    },
  });

  new Gauge({
    name: 'quicsteer_table_entries', help: "Entries in the live generation's tables (keys: distinct QUIC-LB keys).", labelNames: ['table'], registers,
    async collect() {
      const r = await reading();
      for (const table of TABLES) this.set({ table }, r.entries[table]);
    },
  });
  new Gauge({
    name: 'quicsteer_table_capacity', help: 'Entries each table can hold.', labelNames: ['table'], registers,
    collect() {
      for (const table of TABLES) this.set({ table }, TABLE_CAPACITY[table]);
    },
  });
  new Gauge({
    name: 'quicsteer_generation', help: 'Sequence number of the live generation of the tables (every change publishes a new one; 0: none yet).', registers,
    async collect() {
      this.set(Number((await reading()).seq));
    },
  });
  new Gauge({
    name: 'quicsteer_state_pinned', help: 'Whether quicsteer state is pinned under the pin path (0: nothing attached or configured; the other metrics read as empty).', registers,
    async collect() {
      this.set((await reading()).pinned ? 1 : 0);
    },
  });
  new Gauge({
    name: 'quicsteer_server_state', help: 'State of each server of the table: 1 for its current state, 0 for the others.', labelNames: ['server', 'state'], registers,
    async collect() {
      const r = await reading();
      this.reset();
      for (const s of r.servers) for (const state of STATES) this.set({ server: s.id, state }, s.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'quicsteer_interface_info', help: 'One per attached interface: its XDP program id, link id, attach mode and AES implementation.',
    labelNames: ['interface', 'ifindex', 'mode', 'aes', 'prog_id', 'link_id'], registers,
    async collect() {
      const r = await reading();
      this.reset();
      for (const l of r.links)
        this.set({ interface: l.ifname ?? '', ifindex: String(l.ifindex), mode: l.mode, aes: l.aes, prog_id: String(l.progId), link_id: String(l.linkId) }, 1);
    },
  });
  new Gauge({
    name: 'quicsteer_build_info', help: 'Always 1: the quicsteer version, the Node.js version running it and the kernel release.', labelNames: ['version', 'node_version', 'kernel'], registers,
    collect() {
      this.reset();
      this.set({ version: VERSION, node_version: process.version, kernel: os.release() }, 1);
    },
  });

  if (agent) {
    new Counter({
      name: 'quicsteer_apply_total', help: 'Changes the agent applied or tried since it started (the file at start and reloads, peer health marks), by result.', labelNames: ['result'], registers,
      collect() {
        const a = agent.applies();
        this.reset();
        this.inc({ result: 'success' }, a.success);
        this.inc({ result: 'failure' }, a.failure);
      },
    });
    new Gauge({
      name: 'quicsteer_peer_up', help: "Peer health as the agent's probes last saw it: 1 up, 0 down (marked down in the table).", labelNames: ['server', 'address'], registers,
      collect() {
        this.reset();
        for (const p of agent.peers()) this.set({ server: p.id, address: p.address }, p.up ? 1 : 0);
      },
    });
  }
  if (o.processMetrics) {
    collectDefaultMetrics({ register: reg });
    // gauges named like counters (promtool flags them); sum(nodejs_active_handles) etc. give the same numbers
    for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) reg.removeSingleMetric(n);
  }
  return reg;
}

/** The metrics of the state under `pin`, once, as Prometheus text (no process metrics). */
export async function metricsText(pin: string, agent?: AgentView): Promise<string> {
  return metricsRegistry(pin, agent).metrics();
}

const WHY: Record<string, string> = {
  EADDRINUSE: 'the port is in use',
  EADDRNOTAVAIL: 'no interface here has that address',
  EACCES: 'a port below 1024 needs CAP_NET_BIND_SERVICE',
};

/**
 * Serves `reg` on GET /metrics at `listen` (404 elsewhere); resolves once listening, rejects with
 * a RuntimeError naming the address when it cannot bind. The caller owns the server (close() it).
 */
export function serveMetrics(listen: Listen, reg: Registry): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? '').split('?')[0];
    const text = (code: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(body);
    };
    if (pathname !== '/metrics') return text(404, 'not found: the metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed: GET /metrics\n', { allow: 'GET, HEAD' });
    reg.metrics().then(
      (body) => text(200, body, { 'content-type': reg.contentType }),
      (e: Error) => text(500, `quicsteer: ${e.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => {
      const why = e.code ? `${e.code}${WHY[e.code] ? ` (${WHY[e.code]})` : ''}` : e.message;
      reject(new RuntimeError(`cannot serve metrics on ${endpoint(listen.ip, listen.port)}: ${why}`));
    };
    server.once('error', failed);
    server.listen({ host: listen.ip, port: listen.port, exclusive: true }, () => {
      server.off('error', failed);
      resolve(server);
    });
  });
}
