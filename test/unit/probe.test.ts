// quicsteer probe on this host's loopback, unprivileged: a closed port (ICMP port unreachable), a socket
// that never answers, answers that are not this probe's Version Negotiation (controls), one that is,
// and bad input. The probe against a real QUIC server is in test/priv/director-host.test.ts.
import test from 'ava';
import dgram from 'node:dgram';
import { cliAsync, type CliResult } from '../helpers/cli.js';
import { isRoot } from '../helpers/env.js';

// as nobody when the tests run as root: the probe needs no privileges
const user = isRoot ? { asUser: 65534 } : {};
const probe = (...args: string[]) => cliAsync(['probe', ...args], user);

/** A UDP socket on loopback that answers each datagram with reply(datagram) (nothing when it returns null). */
async function responder(family: 'udp4' | 'udp6', reply: (msg: Buffer) => Buffer | null): Promise<{ port: number; close(): void }> {
  const s = dgram.createSocket(family);
  s.on('message', (msg, from) => {
    const r = reply(msg);
    if (r) s.send(r, from.port, from.address);
  });
  await new Promise<void>((resolve) => s.bind(0, family === 'udp4' ? '127.0.0.1' : '::1', resolve));
  return { port: s.address().port, close: () => s.close() };
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(family: 'udp4' | 'udp6'): Promise<number> {
  const r = await responder(family, () => null);
  r.close();
  return r.port;
}

/** A Version Negotiation for `probe` (RFC 9000 17.2.1): its SCID as our DCID, its DCID as our SCID; `swap` gets them wrong. */
function versionNegotiation(probe: Buffer, versions: number[], swap = false): Buffer {
  const dl = probe[5]!;
  const dcid = probe.subarray(6, 6 + dl);
  const scid = probe.subarray(7 + dl, 7 + dl + probe[6 + dl]!);
  const [a, b] = swap ? [dcid, scid] : [scid, dcid];
  const v = Buffer.alloc(4 * versions.length);
  versions.forEach((x, i) => v.writeUInt32BE(x, 4 * i));
  return Buffer.concat([Buffer.from([0x80, 0, 0, 0, 0, a.length]), a, Buffer.from([b.length]), b, v]);
}

const dead = (t: { is(a: unknown, b: unknown, m?: string): void }, r: CliResult, line: string) => {
  t.is(r.stderr, '');
  t.is(r.stdout, `${line}\n`);
  t.is(r.code, 1);
};

test('a closed port: ICMP port unreachable ends the probe at once, dead (exit 1), IPv4 and IPv6', async (t) => {
  for (const [family, host] of [['udp4', '127.0.0.1'], ['udp6', '[::1]']] as const) {
    const port = await closedPort(family);
    const started = Date.now();
    const r = await probe(`${host}:${port}`, '--timeout', '5');
    dead(t, r, `dead: ${host}:${port}: ICMP port unreachable`);
    // well before the 5 s timeout: the ICMP error, not the timer, ended it
    t.true(Date.now() - started < 4000, `${Date.now() - started} ms`);
  }
});

test('a socket that never answers: dead after the timeout (exit 1)', async (t) => {
  const silent = await responder('udp4', () => null);
  try {
    const started = Date.now();
    const r = await probe(`127.0.0.1:${silent.port}`);
    dead(t, r, `dead: 127.0.0.1:${silent.port}: no Version Negotiation within 2 s`);
    t.true(Date.now() - started >= 2000, `${Date.now() - started} ms`);
  } finally {
    silent.close();
  }
});

test('controls: an echo of the probe, and a Version Negotiation with the connection IDs the wrong way round, are dead', async (t) => {
  const echo = await responder('udp4', (m) => m);
  const swapped = await responder('udp4', (m) => versionNegotiation(m, [1], true));
  try {
    const ignored = '(1 other datagram ignored: not a Version Negotiation for this probe)';
    dead(t, await probe(`127.0.0.1:${echo.port}`), `dead: 127.0.0.1:${echo.port}: no Version Negotiation within 2 s ${ignored}`);
    dead(t, await probe(`127.0.0.1:${swapped.port}`), `dead: 127.0.0.1:${swapped.port}: no Version Negotiation within 2 s ${ignored}`);
  } finally {
    echo.close();
    swapped.close();
  }
});

test("this probe's Version Negotiation: alive (exit 0) with the versions it lists; --json", async (t) => {
  const vn = await responder('udp6', (m) => versionNegotiation(m, [0x6b3343cf, 1]));
  try {
    const r = await probe(`[::1]:${vn.port}`);
    t.is(r.stderr, '');
    t.is(r.code, 0);
    t.regex(r.stdout, new RegExp(`^alive: \\[::1\\]:${vn.port} answered Version Negotiation in \\d+(\\.\\d)? ms \\(versions 0x6b3343cf 0x00000001\\)\\n$`));
    const j = await probe(`[::1]:${vn.port}`, '--json');
    t.is(j.code, 0);
    const o = JSON.parse(j.stdout) as { address: string; alive: boolean; ms: number; versions: string[] };
    t.deepEqual(Object.keys(o), ['address', 'alive', 'ms', 'versions']);
    t.like(o, { address: `[::1]:${vn.port}`, alive: true, versions: ['0x6b3343cf', '0x00000001'] });
    t.true(o.ms >= 0 && o.ms < 2000);
  } finally {
    vn.close();
  }
});

test('--json when dead: the object with the reason on stdout, exit 1, nothing on stderr', async (t) => {
  const port = await closedPort('udp4');
  const r = await probe(`127.0.0.1:${port}`, '--json');
  t.is(r.code, 1);
  t.is(r.stderr, '');
  t.deepEqual(JSON.parse(r.stdout), { address: `127.0.0.1:${port}`, alive: false, reason: 'ICMP port unreachable' });
});

test('bad input: one line on stderr, exit 2, nothing probed', async (t) => {
  const timeout = 'whole seconds, 2 to 60';
  const cases: [string[], string][] = [
    [['192.0.2.1'], "bad address '192.0.2.1': expected <ipv4>:<port> or [<ipv6>]:<port>"],
    [['2001:db8::1:4433'], "bad address '2001:db8::1:4433': expected <ipv4>:<port> or [<ipv6>]:<port>"],
    [['192.0.2.1:0'], "bad address '192.0.2.1:0': port must be 1..65535"],
    [['192.0.2.1:70000'], "bad address '192.0.2.1:70000': port must be 1..65535"],
    [['192.0.2.1:4433', '--timeout', '1'], `bad --timeout '1': ${timeout}`],
    [['192.0.2.1:4433', '--timeout', '61'], `bad --timeout '61': ${timeout}`],
    [['192.0.2.1:4433', '--timeout', '2.5'], `bad --timeout '2.5': ${timeout}`],
    [['192.0.2.1:4433', '--timeout', 'x'], `bad --timeout 'x': ${timeout}`],
  ];
  for (const [args, message] of cases) {
    const r = await probe(...args);
    t.is(r.code, 2, args.join(' '));
    t.is(r.stdout, '');
    t.is(r.stderr, `quicsteer: ${message}\n`);
    const j = await probe(...args, '--json');
    t.is(j.code, 2);
    t.deepEqual(JSON.parse(j.stderr), { error: { code: 'usage', message, exitCode: 2 } });
  }
  const none = await probe();
  t.is(none.code, 2);
  t.is(none.stderr.split('\n')[0], "quicsteer: missing required argument 'address'");
});
