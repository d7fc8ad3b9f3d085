// The metrics without privileges: --metrics' parser, the text with nothing pinned (linted by promtool,
// read by prometheus_client's parser), the HTTP endpoint's answers, a scrape of unreadable state, bind failures, flag refusals.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { DEFAULT_METRICS, TABLE_CAPACITY, metricsRegistry, metricsText, parseMetricsListen, serveMetrics, type AgentView } from '../../src/agent/metrics.js';
import { Reasons } from '../../src/bpf/layout.js';
import { UsageError, RuntimeError } from '../../src/control/errors.js';
import { VERSION } from '../../src/version.js';
import { cli } from '../helpers/cli.js';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { parseExposition, promtoolCheck, sampleMap } from '../helpers/prometheus.js';

const AGENT: AgentView = {
  applies: () => ({ success: 3, failure: 1 }),
  peers: () => [
    { id: '0a0b', address: '192.0.2.1:443', up: true },
    { id: '0c0d', address: '[2001:db8::2]:443', up: false },
  ],
};

test('--metrics: <ipv4>:<port> or [<ipv6>]:<port>; anything else is one usage line', (t) => {
  t.deepEqual(DEFAULT_METRICS, { ip: '127.0.0.1', port: 9915 });
  t.deepEqual(parseMetricsListen('0.0.0.0:9915'), { ip: '0.0.0.0', port: 9915 });
  t.deepEqual(parseMetricsListen('[::1]:9100'), { ip: '::1', port: 9100 });
  const bad: [string, RegExp][] = [
    ['9915', /^bad --metrics '9915': expected <ipv4>:<port> or \[<ipv6>\]:<port>$/],
    ['localhost:9915', /expected <ipv4>:<port>/],
    ['::1:9915', /expected <ipv4>:<port>/],
    ['127.0.0.1:0', /^bad --metrics '127\.0\.0\.1:0': port must be 1\.\.65535$/],
    ['127.0.0.1:65536', /port must be 1\.\.65535/],
    ['127.0.0.1:', /expected/],
    ['', /expected/],
  ];
  for (const [v, re] of bad) {
    const e = t.throws(() => parseMetricsListen(v), { instanceOf: UsageError }, v);
    t.regex(e!.message, re, v);
  }
});

test("build_info's version is package.json's", (t) => {
  t.is(VERSION, (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

test('nothing pinned: every reason at 0, empty tables, capacities, state_pinned 0; promtool finds nothing to lint, the parser reads HELP and types', async (t) => {
  const pin = path.join(tempDir('qs-metrics'), 'none');
  const text = await metricsText(pin);
  t.deepEqual(promtoolCheck(text), { code: 0, problems: '' });
  const fams = parseExposition(text);
  const s = sampleMap(fams);
  for (const r of Reasons) {
    t.is(s.get(`quicsteer_packets_total{reason="${r.toLowerCase()}"}`), 0, r);
    t.is(s.get(`quicsteer_bytes_total{reason="${r.toLowerCase()}"}`), 0, r);
  }
  for (const [table, cap] of Object.entries(TABLE_CAPACITY)) {
    t.is(s.get(`quicsteer_table_entries{table="${table}"}`), 0);
    t.is(s.get(`quicsteer_table_capacity{table="${table}"}`), cap);
  }
  t.is(s.get('quicsteer_state_pinned'), 0);
  t.is(s.get('quicsteer_generation'), 0);
  t.true(fams.every((f) => f.name.startsWith('quicsteer_') && f.help.length > 10), 'prefix and HELP on every family');
  t.false(fams.some((f) => ['quicsteer_apply', 'quicsteer_peer_up'].includes(f.name)), 'no agent metrics without an agent');
  t.false(fams.some((f) => f.name.startsWith('process_') || f.name.startsWith('nodejs_')), 'no process metrics');
});

test("with the agent's view: applies by result and peer health; with processMetrics, prom-client's process metrics; still lint-clean", async (t) => {
  const pin = path.join(tempDir('qs-metrics'), 'none');
  const text = await metricsRegistry(pin, AGENT, { processMetrics: true }).metrics();
  t.deepEqual(promtoolCheck(text), { code: 0, problems: '' });
  const fams = parseExposition(text);
  const s = sampleMap(fams);
  t.is(s.get('quicsteer_apply_total{result="success"}'), 3);
  t.is(s.get('quicsteer_apply_total{result="failure"}'), 1);
  t.is(s.get('quicsteer_peer_up{address="192.0.2.1:443",server="0a0b"}'), 1);
  t.is(s.get('quicsteer_peer_up{address="[2001:db8::2]:443",server="0c0d"}'), 0);
  t.is(fams.find((f) => f.name === 'quicsteer_apply')?.type, 'counter');
  t.is(fams.find((f) => f.name === 'quicsteer_peer_up')?.type, 'gauge');
  t.true((s.get('process_cpu_seconds_total') ?? -1) >= 0);
  t.true((s.get('process_resident_memory_bytes') ?? 0) > 0);
  t.is(s.get(`quicsteer_build_info{kernel="${(await import('node:os')).release()}",node_version="${process.version}",version="${VERSION}"}`), 1);
});

test('serveMetrics: GET /metrics with the registry content type, 404 elsewhere, 405 for POST; a port in use is refused naming the address', async (t) => {
  const reg = metricsRegistry(path.join(tempDir('qs-metrics'), 'none'), AGENT);
  const server = await serveMetrics({ ip: '127.0.0.1', port: 0 }, reg);
  const port = (server.address() as AddressInfo).port;
  try {
    const ok = await fetch(`http://127.0.0.1:${port}/metrics`);
    t.is(ok.status, 200);
    t.is(ok.headers.get('content-type'), reg.contentType);
    t.regex(await ok.text(), /^quicsteer_apply_total\{result="success"\} 3$/m);
    t.is((await fetch(`http://127.0.0.1:${port}/metrics?x=1`)).status, 200);
    t.is((await fetch(`http://127.0.0.1:${port}/`)).status, 404);
    t.is((await fetch(`http://127.0.0.1:${port}/metricsx`)).status, 404);
    t.is((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status, 405);

    const e = await t.throwsAsync(serveMetrics({ ip: '127.0.0.1', port }, reg), { instanceOf: RuntimeError });
    t.is(e!.message, `cannot serve metrics on 127.0.0.1:${port}: EADDRINUSE (the port is in use)`);
    const e6 = await t.throwsAsync(serveMetrics({ ip: '2001:db8::77', port: 9915 }, reg), { instanceOf: RuntimeError });
    t.is(e6!.message, 'cannot serve metrics on [2001:db8::77]:9915: EADDRNOTAVAIL (no interface here has that address)');
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('a pin path that cannot be read fails the scrape: 500 with the one-line reason (Prometheus marks the target down), metricsText rejects', async (t) => {
  const dir = tempDir('qs-metrics');
  writeFileSync(path.join(dir, 'qs_vips'), ''); // looks like state, on a filesystem that is not a bpffs
  const why = `${dir} is not on a bpffs: no pinned state can be there (mount -t bpf bpf <dir>, or another --pin-path)`;
  await t.throwsAsync(metricsText(dir), { instanceOf: RuntimeError, message: why });
  const server = await serveMetrics({ ip: '127.0.0.1', port: 0 }, metricsRegistry(dir));
  try {
    const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
    t.is(r.status, 500);
    t.is(await r.text(), `quicsteer: ${why}\n`);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('stats --prometheus takes no --json, --watch or --count: one usage line, exit 2', (t) => {
  const why = 'stats: --prometheus prints the Prometheus text once; it takes no --json, --watch or --count';
  for (const extra of [['--watch', '1'], ['--watch', '1', '--count', '2'], ['--count', '2']]) {
    const r = cli(['--pin-path', '/dev/null/quicsteer', 'stats', '--prometheus', ...extra]);
    t.is(r.code, 2, extra.join(' '));
    t.is(r.stderr, `quicsteer: ${why}\n`);
    t.is(r.stdout, '');
  }
  // with --json anywhere, errors come as JSON
  const j = cli(['--pin-path', '/dev/null/quicsteer', 'stats', '--prometheus', '--json']);
  t.is(j.code, 2);
  t.deepEqual(JSON.parse(j.stderr), { error: { code: 'usage', message: why, exitCode: 2 } });
});
