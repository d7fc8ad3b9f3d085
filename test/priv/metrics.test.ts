// The metrics of a real attachment: quicsteer attached and configured in a namespace the test creates,
// real UDP through the XDP program, scraped by `stats --prometheus` and over HTTP from the endpoint
// (run inside the namespace, as the agent would), linted by promtool and read by prometheus_client's parser.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Reasons } from '../../src/bpf/layout.js';
import { TABLE_CAPACITY } from '../../src/agent/metrics.js';
import { privileged, isRoot, inCI } from '../helpers/env.js';
import { ROOT } from '../helpers/paths.js';
import { Netns } from '../helpers/netns.js';
import { tempDir } from '../helpers/tmp.js';
import { cliJson } from '../helpers/cli.js';
import { PeerLab, VIP } from '../helpers/peer-lab.js';
import { quicLbCid, shortHeader } from '../helpers/frames.js';
import { HELPER_AGENT } from '../helpers/metrics-server.js';
import { parseExposition, promtoolCheck, sampleMap, type Family } from '../helpers/prometheus.js';

/** The headers around a UDP payload in the frames the program counts: Ethernet 14, IPv4 20, UDP 8. */
const HEADERS = 14 + 20 + 8;

interface Status {
  attached: { interface: string; ifindex: number; mode: string; aes: string; progId: number; linkId: number }[];
  generation: { seq: number } | null;
}

/** Every quicsteer family and its type, as prometheus_client's parser names them (a counter without _total). */
const FAMILIES: Record<string, 'counter' | 'gauge'> = {
  quicsteer_packets: 'counter',
  quicsteer_bytes: 'counter',
  quicsteer_steered_packets: 'counter',
  quicsteer_steered_bytes: 'counter',
  quicsteer_quic_lb_decrypts: 'counter',
  quicsteer_table_entries: 'gauge',
  quicsteer_table_capacity: 'gauge',
  quicsteer_generation: 'gauge',
  quicsteer_gquic_bytes: 'counter',
  quicsteer_gquic_packets: 'counter',
  quicsteer_state_pinned: 'gauge',
  quicsteer_server_state: 'gauge',
  quicsteer_interface_info: 'gauge',
  quicsteer_build_info: 'gauge',
};
const AGENT_FAMILIES: Record<string, 'counter' | 'gauge'> = { quicsteer_apply: 'counter', quicsteer_peer_up: 'gauge' };

/** The metrics endpoint in a namespace (test/helpers/metrics-server.ts), asked over HTTP. */
class Endpoint {
  readonly #p: ChildProcess;
  readonly #lines: AsyncIterator<string>;

  constructor(ns: Netns, pin: string) {
    this.#p = spawn('ip', ['netns', 'exec', ns.name, process.execPath, path.join(ROOT, 'build/dist/test/helpers/metrics-server.js'), pin], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#lines = readline.createInterface({ input: this.#p.stdout! })[Symbol.asyncIterator]();
  }

  async #line(): Promise<string> {
    const r = await this.#lines.next();
    if (r.done) throw new Error('the metrics server exited');
    return r.value;
  }

  async port(): Promise<number> {
    return (JSON.parse(await this.#line()) as { port: number }).port;
  }

  async get(p = '/metrics'): Promise<{ status: number; type: string; body: string; ms: number }> {
    this.#p.stdin!.write(`GET ${p}\n`);
    return JSON.parse(await this.#line()) as { status: number; type: string; body: string; ms: number };
  }

  stop(): void {
    this.#p.stdin!.end();
  }
}

/** A real server namespace (veth0 to a peer namespace that plays client and director) and its pin path. */
class Lab extends PeerLab {
  constructor() {
    super('qs-met');
  }

  ok(...args: string[]): string {
    const r = this.q(...args);
    if (r.code !== 0) throw new Error(`quicsteer ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }
}

/** Lint and parse one exposition: promtool must have nothing to say, the parser must read it. */
function check(t: import('ava').ExecutionContext, text: string, what: string): { families: Family[]; s: Map<string, number | null> } {
  t.deepEqual(promtoolCheck(text), { code: 0, problems: '' }, `promtool check metrics on ${what}`);
  const families = parseExposition(text);
  return { families, s: sampleMap(families) };
}

const quicsteerTypes = (fs: Family[]) => Object.fromEntries(fs.filter((f) => f.name.startsWith('quicsteer_')).map((f) => [f.name, f.type]));

let lab: Lab | undefined;
test.before(() => {
  if (isRoot || inCI) lab = new Lab();
});
test.after.always(() => lab?.destroy());

const serial = (title: string, impl: Parameters<typeof privileged>[1]) => privileged(title, impl, test.serial);

serial('nothing pinned: stats --prometheus refuses as stats does (exit 1, one line)', (t) => {
  const l = lab!;
  const r = l.q('stats', '--prometheus');
  t.is(r.code, 1);
  t.is(r.stderr, `quicsteer: no quicsteer state under ${l.fs.dir}: nothing is attached\n`);
  t.is(r.stdout, '');
});

serial('stats --prometheus and /metrics: lint-clean, parsed with HELP and types; counters move by exactly the traffic sent; interface_info and generation are what status says', async (t) => {
  const l = lab!;
  l.ok('attach', 'veth0', '--id', '0a0b');
  l.ok('vips', 'add', `${VIP}:443`, '--cid', 'quic-lb:sid=2,nonce=6');
  l.ok('servers', 'add', '0a0b', '--mac', l.selfMac);
  // 0c0d's MAC is nobody's: its packets are steered (XDP_TX back out of veth0) and counted, then dropped by the peer
  l.ok('servers', 'add', '0c0d', '--mac', '02:00:00:00:00:0c');
  l.ok('servers', 'add', '0e0f', '--mac', '02:00:00:00:00:0e');
  l.ok('servers', 'set', '0e0f', '--state', 'drain');

  // the endpoint's registry is made now, before the traffic: every scrape must read the maps anew
  const ep = new Endpoint(l.ns, l.fs.dir);
  try {
    await ep.port();
    const status = cliJson<Status>(l.q('status', '--json'));
    const statsBefore = cliJson<{ reasons: Record<string, { packets: number; bytes: number }> }>(l.q('stats', '--json'));
    const cliBefore = l.ok('stats', '--prometheus');
    const httpBefore = await ep.get();
    t.is(httpBefore.status, 200);
    t.is(httpBefore.type, 'text/plain; version=0.0.4; charset=utf-8');

    const c0 = check(t, cliBefore, 'stats --prometheus');
    const h0 = check(t, httpBefore.body, '/metrics');
    // names, types, HELP: exactly the quicsteer families, the agent's only on the endpoint
    t.deepEqual(quicsteerTypes(c0.families), FAMILIES);
    t.deepEqual(quicsteerTypes(h0.families), { ...FAMILIES, ...AGENT_FAMILIES });
    for (const f of [...c0.families, ...h0.families]) t.true(f.help.length > 10, `HELP of ${f.name}`);
    for (const f of c0.families.filter((x) => x.type === 'counter')) t.true(f.samples.every((x) => x.name === `${f.name}_total`), `${f.name}: _total`);
    t.false(c0.families.some((f) => !f.name.startsWith('quicsteer_')), 'stats --prometheus: no process metrics');
    t.true(h0.s.has('process_cpu_seconds_total') && h0.s.has('process_resident_memory_bytes') && h0.s.has('nodejs_heap_size_used_bytes'), 'the endpoint: process metrics');
    t.is(h0.s.get('quicsteer_apply_total{result="success"}'), HELPER_AGENT.applies.success);
    t.is(h0.s.get('quicsteer_apply_total{result="failure"}'), HELPER_AGENT.applies.failure);
    t.is(h0.s.get('quicsteer_peer_up{address="192.0.2.12:443",server="0c0d"}'), 0);

    // the interface and the generation as status shows them, in both scrapes
    const a = status.attached[0]!;
    t.is(status.attached.length, 1);
    const info = `quicsteer_interface_info{aes="${a.aes}",ifindex="${a.ifindex}",interface="veth0",link_id="${a.linkId}",mode="native",prog_id="${a.progId}"}`;
    for (const s of [c0.s, h0.s]) {
      t.is(s.get(info), 1, info);
      t.is(s.get('quicsteer_generation'), status.generation!.seq);
      t.is(s.get('quicsteer_state_pinned'), 1);
      t.deepEqual(
        Object.keys(TABLE_CAPACITY).map((x) => [s.get(`quicsteer_table_entries{table="${x}"}`), s.get(`quicsteer_table_capacity{table="${x}"}`)]),
        [[1, 1024], [3, 16384], [3, 16384], [0, 256]],
        'entries and capacity: vips, servers, peers (their MACs), keys',
      );
      t.deepEqual(['up', 'down', 'drain'].map((st) => s.get(`quicsteer_server_state{server="0e0f",state="${st}"}`)), [0, 0, 1]);
      t.deepEqual(['up', 'down', 'drain'].map((st) => s.get(`quicsteer_server_state{server="0c0d",state="${st}"}`)), [1, 0, 0]);
      for (const r of Reasons) t.true(s.has(`quicsteer_packets_total{reason="${r.toLowerCase()}"}`), r);
    }
    // control: before the traffic the scrapes show what stats --json shows
    for (const r of ['unknown_server', 'steered', 'local']) {
      t.is(h0.s.get(`quicsteer_packets_total{reason="${r}"}`), statsBefore.reasons[r]!.packets, r);
      t.is(c0.s.get(`quicsteer_bytes_total{reason="${r}"}`), statsBefore.reasons[r]!.bytes, r);
    }

    // traffic of known reasons and sizes
    const sent = {
      unknown_server: { n: 7, frame: shortHeader(quicLbCid(0, Buffer.from('7777', 'hex'), 6)) },
      steered: { n: 5, frame: shortHeader(quicLbCid(0, Buffer.from('0c0d', 'hex'), 6), { rest: Buffer.alloc(100, 0xcc) }) },
      local: { n: 3, frame: shortHeader(quicLbCid(0, Buffer.from('0a0b', 'hex'), 6), { rest: Buffer.alloc(50, 0xdd) }) },
    };
    for (const x of Object.values(sent)) l.sendFromPeer(x.frame, x.n);

    const c1 = check(t, l.ok('stats', '--prometheus'), 'stats --prometheus after traffic');
    const h1 = check(t, (await ep.get()).body, '/metrics after traffic');
    for (const [before, after, what] of [[c0.s, c1.s, 'stats --prometheus'], [h0.s, h1.s, '/metrics']] as const) {
      const d = (k: string) => after.get(k)! - before.get(k)!;
      for (const [r, x] of Object.entries(sent)) {
        t.is(d(`quicsteer_packets_total{reason="${r}"}`), x.n, `${what}: ${r} packets`);
        t.is(d(`quicsteer_bytes_total{reason="${r}"}`), x.n * (x.frame.length + HEADERS), `${what}: ${r} bytes`);
      }
      t.is(d('quicsteer_steered_packets_total{server="0c0d"}'), sent.steered.n, `${what}: steered to 0c0d`);
      t.is(d('quicsteer_steered_bytes_total{server="0c0d"}'), sent.steered.n * (sent.steered.frame.length + HEADERS));
      t.is(d('quicsteer_steered_packets_total{server="0a0b"}'), 0, `${what}: nothing steered to 0a0b (ours: local)`);
      t.is(d('quicsteer_steered_packets_total{server="0e0f"}'), 0);
      t.is(d('quicsteer_generation'), 0, 'traffic publishes nothing');
    }

    // a change shows in the next scrape of the same registry: a new generation, the state enum moved
    l.ok('servers', 'set', '0c0d', '--state', 'down');
    const h2 = check(t, (await ep.get()).body, '/metrics after a change');
    t.is(h2.s.get('quicsteer_generation'), cliJson<Status>(l.q('status', '--json')).generation!.seq);
    t.is(h2.s.get('quicsteer_generation'), h1.s.get('quicsteer_generation')! + 1);
    t.deepEqual(['up', 'down', 'drain'].map((st) => h2.s.get(`quicsteer_server_state{server="0c0d",state="${st}"}`)), [0, 1, 0]);

    t.is((await ep.get('/')).status, 404);
  } finally {
    ep.stop();
  }
});

serial('1,000 servers in the table: every one has its series; one scrape and one stats --prometheus timed', async (t) => {
  const l = lab!;
  const ids = Array.from({ length: 1000 }, (_, i) => (0x1000 + i).toString(16).padStart(4, '0'));
  const file = path.join(tempDir('qs-metrics'), 'quicsteer.json');
  writeFileSync(file, JSON.stringify({
    localId: '0a0b',
    interfaces: [{ name: 'veth0' }],
    vips: [{ address: `${VIP}:443`, cid: 'quic-lb:sid=2,nonce=6' }],
    servers: [{ id: '0a0b', mac: l.selfMac }, ...ids.map((id, i) => ({ id, mac: `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}` }))],
  }));
  l.ok('apply', '-f', file);
  const ep = new Endpoint(l.ns, l.fs.dir);
  try {
    await ep.port();
    const scrapes: number[] = [];
    let last = '';
    for (let i = 0; i < 7; i++) {
      const r = await ep.get();
      scrapes.push(r.ms);
      last = r.body;
    }
    const { s } = check(t, last, '/metrics with 1,001 servers');
    t.is(s.get('quicsteer_table_entries{table="servers"}'), 1001);
    t.true(ids.every((id) => s.get(`quicsteer_steered_packets_total{server="${id}"}`) === 0 && s.get(`quicsteer_server_state{server="${id}",state="up"}`) === 1));

    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const text = l.ok('stats', '--prometheus');
      runs.push(performance.now() - t0);
      if (i === 0) t.is(sampleMap(parseExposition(text)).get('quicsteer_table_entries{table="servers"}'), 1001);
    }
    const json: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      l.ok('stats', '--json');
      json.push(performance.now() - t0);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(1);
    t.log(`scrape of /metrics (HTTP round trip in the namespace, 1,001 servers), ms: median ${median(scrapes.slice(1))} of ${scrapes.slice(1).map((x) => x.toFixed(1)).join(' ')}; first ${scrapes[0]!.toFixed(1)}`);
    t.log(`stats --prometheus (whole process under ip netns exec), ms: median ${median(runs)} of ${runs.map((x) => x.toFixed(0)).join(' ')}; stats --json for comparison: median ${median(json)}`);
  } finally {
    ep.stop();
  }
});
