// The quiche peer (test/stacks/quiche-peer.ts: Cloudflare quiche through npm @matrixai/quic, issue
// 16's peer contract) in a namespace of its own, on loopback: quiche client -> quiche server, a
// 2 MiB upload and a 3 MiB download at once on one stream arrive byte-identical; the server logs the
// contract's lines; every server CID on the wire (Retry and handshake SCIDs, the client's short-header
// DCIDs; the server sends no NEW_CONNECTION_ID, checked in the decrypted capture) decodes to its
// server ID with `quicsteer cid decode`, and another server's to its own (control). The server
// follows a port rebinding and logs it; on *:port it answers each address from that address. Bad
// usage and an absent server fail with one line.
import test from 'ava';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { privileged, privilegedSerial } from '../helpers/env.js';
import { Netns } from '../helpers/netns.js';
import { serverIssuedCids, udpDatagrams } from '../helpers/pcap.js';
import { ROOT } from '../helpers/paths.js';
import { testCertificate } from '../helpers/quic-server.js';
import { tempDir } from '../helpers/tmp.js';
import { cli } from '../helpers/cli.js';

const PEER = path.join(ROOT, 'build/dist/test/stacks/quiche-peer.js');
const PORT = 4433;
// the lab's layout: first octet 0x13 (config rotation 0, length 20), 2-byte server ID, 17-byte nonce
const SPEC = 'quic-lb:sid=2,nonce=17';
const MiB = 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Polls `ok` every 100 ms for up to `ms`; returns whether it held. */
async function waitFor(ok: () => boolean, ms: number): Promise<boolean> {
  for (const t0 = Date.now(); !ok(); await sleep(100)) if (Date.now() - t0 > ms) return false;
  return true;
}
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

type LogLine = { ev: string; [k: string]: unknown };

/** Files every run shares: the certificate, an upload and a download of random bytes. */
function files(upBytes: number, downBytes: number) {
  const dir = tempDir('qs-quiche');
  const up = path.join(dir, 'up.bin');
  const down = path.join(dir, 'down.bin');
  writeFileSync(up, randomBytes(upBytes));
  writeFileSync(down, randomBytes(downBytes));
  return { dir, up, down, ...testCertificate(dir) };
}

/** A quiche peer server in `ns`, up once its log says it listens (on `sockets` addresses). */
async function startServer(ns: Netns, f: ReturnType<typeof files>, sid: string, port: number, host = '127.0.0.1', sockets = 1): Promise<{ p: ChildProcess; log: string; lines: () => LogLine[] }> {
  const log = path.join(f.dir, `server-${sid}-${port}.log`);
  const args = ['server', '--listen', `${host}:${port}`, '--cert', f.cert, '--key', f.key, '--sid', sid, '--cid-first-octet', '13', '--cid-len', '20', '--download', f.down, '--log', log];
  const p = spawn('ip', ['netns', 'exec', ns.name, process.execPath, PEER, ...args], { stdio: 'ignore' });
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine) : []);
  if (!(await waitFor(() => lines().filter((l) => l.ev === 'listening').length >= sockets, 10_000))) throw new Error(`the quiche server did not start: ${existsSync(log) ? readFileSync(log, 'utf8') : 'no log'}`);
  return { p, log, lines };
}

/** The quiche peer (in `ns` when given), asynchronous (a server and a capture run meanwhile): its exit code, output and run time. */
function runPeer(args: string[], ns?: Netns, env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const t0 = Date.now();
  const cmd = [process.execPath, PEER, ...args];
  const p = spawn(ns ? 'ip' : cmd[0]!, ns ? ['netns', 'exec', ns.name, ...cmd] : cmd.slice(1), { env: { ...process.env, ...env } });
  let [out, err] = ['', ''];
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, ms: Date.now() - t0 });
    }),
  );
}

const runClient = (ns: Netns, args: string[], env: Record<string, string> = {}) => runPeer(['client', ...args], ns, env);

/** tcpdump on the namespace's loopback, ready once its file has the pcap header. */
async function capture(ns: Netns, file: string, port: number): Promise<() => Promise<void>> {
  const p = spawn('ip', ['netns', 'exec', ns.name, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', 'lo', '-U', '-w', file, 'udp', 'port', String(port)], { stdio: 'ignore' });
  await waitFor(() => existsSync(file) && statSync(file).size >= 24, 5000);
  return async () => {
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGINT');
    await done;
  };
}

/**
 * Frame types per sender in the decrypted capture, and the CIDs of the server's NEW_CONNECTION_ID
 * frames. tshark 4.0 takes the ClientHello quiche sends again after the Retry (a new random) for a
 * retransmission and never finds its secrets: the client's first Initial and the Retry are left out.
 */
function decrypted(pcap: string, keylog: string, port: number): { frames: Map<string, number>; serverNewCids: string[] } {
  const trimmed = `${pcap}.trimmed`;
  const q = ['-d', `udp.port==${port},quic`];
  const cut = spawnSync('tshark', ['-r', pcap, ...q, '-Y', `not quic.long.packet_type == 3 and not (udp.dstport == ${port} and quic.long.packet_type == 0 and quic.token_length == 0)`, '-w', trimmed], { encoding: 'utf8' });
  if (cut.status !== 0) throw new Error(`tshark: ${cut.stderr}`);
  const read = (filter: string, field: string) => {
    const r = spawnSync('tshark', ['-r', trimmed, '-o', `tls.keylog_file:${keylog}`, ...q, '-Y', filter, '-T', 'fields', '-e', 'udp.srcport', '-e', field], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tshark: ${r.stderr}`);
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]);
  };
  const frames = new Map<string, number>();
  for (const [src, types] of read('quic', 'quic.frame_type'))
    for (const t of types.split(',').filter(Boolean)) {
      const k = `${src === String(port) ? 'server' : 'client'} ${t}`;
      frames.set(k, (frames.get(k) ?? 0) + 1);
    }
  const serverNewCids = read(`quic.frame_type == 0x18 && udp.srcport == ${port}`, 'quic.nci.connection_id').flatMap(([, c]) => c.split(','));
  return { frames, serverNewCids };
}

/** The server ID `quicsteer cid decode` finds in a CID under the lab's layout. */
function decode(cid: Buffer): string {
  const r = cli(['cid', 'decode', cid.toString('hex'), '--cid', SPEC]);
  if (r.code !== 0) throw new Error(`cid decode ${cid.toString('hex')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The distinct server-issued CIDs on the wire (long-header SCIDs from the server, short-header DCIDs to it). */
function wireCids(pcap: string, port: number): Buffer[] {
  const { serverScids, clientDcids } = serverIssuedCids(udpDatagrams(pcap), port, 20);
  return [...new Map([...serverScids, ...clientDcids].map((c) => [c.toString('hex'), Buffer.from(c)])).values()];
}

privilegedSerial('quiche client -> quiche server: 2 MiB up and 3 MiB down at once arrive byte-identical, the contract log lines, every server CID on the wire carries its server ID (and another server\'s its own)', async (t) => {
  const ns = new Netns('qs-quiche');
  const f = files(2 * MiB, 3 * MiB);
  try {
    const srv = await startServer(ns, f, '0002', PORT);
    const pcap = path.join(f.dir, 'cap.pcap');
    const keylog = path.join(f.dir, 'keys.log');
    const stop = await capture(ns, pcap, PORT);
    const out = path.join(f.dir, 'out.bin');
    const c = await runClient(ns, ['--connect', `127.0.0.1:${PORT}`, '--upload', f.up, '--out', out], { SSLKEYLOGFILE: keylog });
    // the server's last line comes once its side of the close has drained
    await waitFor(() => srv.lines().some((l) => l.ev === 'closed'), 10_000);
    await stop();
    t.log(`2 MiB up + 3 MiB down: client exited ${c.code} after ${c.ms} ms (node start-up included)`);
    t.is(c.code, 0, c.err);
    t.is(c.out + c.err, '', 'the client writes nothing');
    t.is(sha256(out), sha256(f.down), 'the download arrived byte-identical');

    const lines = srv.lines();
    t.deepEqual(lines.map((l) => l.ev), ['listening', 'conn', ...(lines[2]?.ev === 'sent' ? ['sent', 'upload'] : ['upload', 'sent']), 'closed'], JSON.stringify(lines));
    t.deepEqual(lines[0], { ev: 'listening', addr: `127.0.0.1:${PORT}` });
    t.regex(String(lines[1]!.remote), /^127\.0\.0\.1:\d+$/);
    t.deepEqual(lines.find((l) => l.ev === 'upload'), { ev: 'upload', bytes: 2 * MiB, sha256: sha256(f.up) }, 'the upload arrived byte-identical');
    t.deepEqual(lines.find((l) => l.ev === 'sent'), { ev: 'sent', bytes: 3 * MiB });
    t.regex(String(lines.at(-1)!.reason), /application code 0/);

    const cids = wireCids(pcap, PORT);
    t.log(`distinct server CIDs on the wire: ${cids.map((b) => b.toString('hex')).join(' ')}`);
    t.true(cids.length >= 1);
    t.true(cids.every((b) => b.length === 20 && b[0] === 0x13), 'all 20 bytes, first octet 0x13');
    t.deepEqual([...new Set(cids.map(decode))], ['0002'], 'quicsteer cid decode finds the server ID in every one');
    // NEW_CONNECTION_ID: @matrixai/quic never gives quiche a spare CID (no newSourceCid call), so
    // quiche announces none and the client keeps the handshake CID: the decryption works (STREAM
    // frames, types 0x08-0x0f, both ways), and no such frame is in it
    const { frames, serverNewCids } = decrypted(pcap, keylog, PORT);
    const streamFrames = (who: string) => [8, 9, 10, 11, 12, 13, 14, 15].reduce((n, ty) => n + (frames.get(`${who} ${ty}`) ?? 0), 0);
    t.true(streamFrames('server') > 100 && streamFrames('client') > 100, `decrypted frames: ${JSON.stringify([...frames])}`);
    t.deepEqual(serverNewCids, [], 'the server issues no NEW_CONNECTION_ID');
    t.false([...frames.keys()].some((k) => k.endsWith(' 24')), 'no NEW_CONNECTION_ID either way');

    // control: another server's CIDs carry its own ID, so the decode tells the servers apart
    await startServer(ns, f, '0003', PORT + 1);
    const pcap2 = path.join(f.dir, 'cap2.pcap');
    const stop2 = await capture(ns, pcap2, PORT + 1);
    const c2 = await runClient(ns, ['--connect', `127.0.0.1:${PORT + 1}`, '--upload', f.cert, '--out', path.join(f.dir, 'out2.bin')]);
    await stop2();
    t.is(c2.code, 0, c2.err);
    const other = wireCids(pcap2, PORT + 1);
    t.true(other.length >= 1);
    t.deepEqual([...new Set(other.map(decode))], ['0003']);
    t.false(other.some((b) => cids.some((x) => x.equals(b))), 'two connections share no CID');
  } finally {
    ns.destroy();
  }
});

privileged('quiche server follows a client port rebinding mid-upload and logs {"ev":"remote"} with the new address (the first test: none without one)', async (t) => {
  const ns = new Netns('qs-quiche');
  const f = files(8 * MiB, 1 * MiB);
  try {
    // the client's one port, and the port a stateless rewrite moves it to (its stack is not told)
    const [p1, p2] = [40000, 40001];
    execFileSync('ip', ['netns', 'exec', ns.name, 'sysctl', '-qw', `net.ipv4.ip_local_port_range=${p1} ${p1}`]);
    const srv = await startServer(ns, f, '0002', PORT);
    const run = runClient(ns, ['--connect', `127.0.0.1:${PORT}`, '--upload', f.up, '--out', path.join(f.dir, 'out.bin'), '--idle-timeout-ms', '2000']);
    await waitFor(() => srv.lines().some((l) => l.ev === 'conn'), 10_000);
    await sleep(200); // mid-upload: 8 MiB take seconds here
    const rules = `table ip qsrebind {
      chain out { type filter hook output priority raw; udp dport ${PORT} udp sport ${p1} udp sport set ${p2}; }
      chain in { type filter hook prerouting priority raw; udp sport ${PORT} udp dport ${p2} udp dport set ${p1}; }
    }`;
    execFileSync('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input: rules });
    const c = await run;
    await sleep(300);
    const lines = srv.lines();
    t.log(`client exited ${c.code} ${c.err.trim()}; server: ${lines.filter((l) => l.ev !== 'listening').map((l) => JSON.stringify(l)).join(' ')}`);
    t.deepEqual(lines.find((l) => l.ev === 'conn'), { ev: 'conn', remote: `127.0.0.1:${p1}` });
    t.deepEqual(lines.filter((l) => l.ev === 'remote'), [{ ev: 'remote', remote: `127.0.0.1:${p2}` }]);
  } finally {
    ns.destroy();
  }
});

privileged('quiche server on *:port answers on every address from that address: a VIP on lo and its link address, from another namespace', async (t) => {
  const [srvNs, clNs] = [new Netns('qs-quiche'), new Netns('qs-quiche')];
  const f = files(64 * 1024, 64 * 1024);
  try {
    srvNs.ip('link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1', 'netns', clNs.name);
    srvNs.ip('addr', 'add', '10.0.0.1/24', 'dev', 'e0');
    srvNs.ip('addr', 'add', '192.0.2.10/32', 'dev', 'lo'); // a VIP, as on a direct-routing real server
    srvNs.ip('link', 'set', 'e0', 'up');
    clNs.ip('addr', 'add', '10.0.0.2/24', 'dev', 'e1');
    clNs.ip('link', 'set', 'e1', 'up');
    clNs.ip('route', 'add', '192.0.2.10/32', 'via', '10.0.0.1');
    const srv = await startServer(srvNs, f, '0002', PORT, '*', 3);
    t.deepEqual(srv.lines().map((l) => l.addr).sort(), [`10.0.0.1:${PORT}`, `127.0.0.1:${PORT}`, `192.0.2.10:${PORT}`]);
    for (const ip of ['192.0.2.10', '10.0.0.1']) {
      const out = path.join(f.dir, `out-${ip}`);
      const c = await runClient(clNs, ['--connect', `${ip}:${PORT}`, '--upload', f.up, '--out', out, '--idle-timeout-ms', '3000']);
      t.is(c.code, 0, `${ip}: ${c.err}`);
      t.is(sha256(out), sha256(f.down), ip);
    }
    t.is(srv.lines().filter((l) => l.ev === 'upload' && l.sha256 === sha256(f.up)).length, 2);
  } finally {
    srvNs.destroy();
    clNs.destroy();
  }
});

privileged('quiche client to a port with no server: exit 1 with one line on stderr, after its idle timeout (default 5000 ms)', async (t) => {
  const ns = new Netns('qs-quiche');
  const f = files(1024, 1024);
  try {
    const c = await runClient(ns, ['--connect', `127.0.0.1:${PORT}`, '--upload', f.up, '--out', path.join(f.dir, 'out.bin')]);
    t.log(`${c.ms} ms with node's start-up: ${c.err.trim()}`);
    t.is(c.code, 1);
    t.is(c.out, '');
    const m = /^quiche-peer: no connection to 127\.0\.0\.1:4433: no answer within the idle timeout \(5000 ms\), gave up after (\d+) ms\n$/.exec(c.err);
    t.truthy(m, c.err);
    const ms = Number(m?.[1]);
    t.true(ms >= 5000 && ms < 6500, `gave up after ${ms} ms`);
  } finally {
    ns.destroy();
  }
});

// Bad usage: exit 2, one line, and nothing written (no log file). No socket is opened: no namespace needed.
const f0 = { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem', down: '/dev/null' };
const serverArgs = (log: string, over: Record<string, string | null>) => {
  const a: Record<string, string | null> = { listen: '127.0.0.1:4433', cert: f0.cert, key: f0.key, sid: '0002', 'cid-first-octet': '13', 'cid-len': '20', download: f0.down, log, ...over };
  return Object.entries(a).flatMap(([k, v]) => (v === null ? [] : [`--${k}`, v]));
};
const USAGE: { what: string; args: (log: string) => string[]; err: RegExp }[] = [
  { what: 'no role', args: () => [], err: /usage: quiche-peer server\|client/ },
  { what: 'unknown role', args: () => ['both'], err: /usage/ },
  { what: 'server without --sid', args: (l) => ['server', ...serverArgs(l, { sid: null })], err: /missing --sid/ },
  { what: 'server --cid-len 18', args: (l) => ['server', ...serverArgs(l, { 'cid-len': '18' })], err: /--cid-len 18: .*20 bytes/ },
  { what: 'server --sid in bad hex', args: (l) => ['server', ...serverArgs(l, { sid: '0g' })], err: /bad --sid '0g'/ },
  { what: 'server --sid of 16 bytes', args: (l) => ['server', ...serverArgs(l, { sid: '00'.repeat(16) })], err: /bad --sid/ },
  { what: 'server --cid-first-octet not a length-20 QUIC-LB octet', args: (l) => ['server', ...serverArgs(l, { 'cid-first-octet': '80' })], err: /--cid-first-octet 80/ },
  { what: 'server --cid-first-octet of config rotation 7', args: (l) => ['server', ...serverArgs(l, { 'cid-first-octet': 'f3' })], err: /--cid-first-octet f3/ },
  { what: 'server --listen without a port', args: (l) => ['server', ...serverArgs(l, { listen: '127.0.0.1' })], err: /bad --listen/ },
  { what: 'server --listen IPv6', args: (l) => ['server', ...serverArgs(l, { listen: '[::1]:4433' })], err: /bad --listen/ },
  { what: 'server --idle-timeout-ms 0', args: (l) => ['server', ...serverArgs(l, { 'idle-timeout-ms': '0' })], err: /bad --idle-timeout-ms/ },
  { what: 'server, an unknown option', args: (l) => ['server', ...serverArgs(l, { frobnicate: '1' })], err: /frobnicate/ },
  { what: 'server --cert missing', args: (l) => ['server', ...serverArgs(l, {})], err: /--cert \/nonexistent\/cert\.pem: ENOENT/ },
  { what: 'server --cert not a certificate', args: (l) => ['server', ...serverArgs(l, { cert: PEER })], err: /--cert .*: not a PEM certificate/ },
  { what: 'client without --out', args: () => ['client', '--connect', '127.0.0.1:4433', '--upload', '/dev/null'], err: /missing --out/ },
  { what: 'client --cid-len 8', args: (l) => ['client', '--connect', '127.0.0.1:4433', '--upload', '/dev/null', '--out', l, '--cid-len', '8'], err: /--cid-len 8/ },
  { what: 'client --connect *:4433', args: (l) => ['client', '--connect', '*:4433', '--upload', '/dev/null', '--out', l], err: /bad --connect/ },
  { what: 'client --upload missing', args: (l) => ['client', '--connect', '127.0.0.1:4433', '--upload', '/nonexistent/up', '--out', l], err: /--upload \/nonexistent\/up: ENOENT/ },
];

for (const u of USAGE)
  test(`quiche peer, bad usage (${u.what}): exit 2, one line, nothing written`, async (t) => {
    const log = path.join(tempDir('qs-quiche'), 'log');
    const r = await runPeer(u.args(log));
    t.is(r.code, 2, r.err);
    t.is(r.out, '');
    t.regex(r.err, /^quiche-peer: [^\n]+\n$/);
    t.regex(r.err, u.err);
    t.false(existsSync(log), 'no log or output file');
  });
