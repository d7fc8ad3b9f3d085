// The quic-go peer (test/stacks/quicgo, built as build/stacks/quicgo-peer: Debian's quic-go 0.29) keeps
// issue 16's peer contract: a quic-go client and server exchange 2 MiB up and 3 MiB down byte-identical,
// the server logs the contract's lines, and every CID its ConnectionIDGenerator issued (long-header
// SCIDs, the client's DCIDs, NEW_CONNECTION_ID frames decrypted with the client's SSLKEYLOGFILE)
// decodes to its server ID with `quicsteer cid decode`; two servers with other IDs and lengths are each
// other's control. Failures: exit 1 with one line after the idle timeout, bad usage exit 2 with one
// line. And quic-go 0.29's limit the README states: its server does not follow a NAT rebinding.
import test from 'ava';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { privilegedSerial } from '../helpers/env.js';
import { Netns, sh } from '../helpers/netns.js';
import { ROOT } from '../helpers/paths.js';
import { cli, cliJson } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { serverIssuedCids, startCapture, udpDatagrams } from '../helpers/pcap.js';
import { testCertificate } from '../helpers/quic-server.js';
import { claimChild } from '../../src/lab/owner.js';

const PEER = path.join(ROOT, 'build/stacks/quicgo-peer');
const UP = 2 << 20;
const DOWN = 3 << 20;

/** A certificate and the two transfer files, with their hashes. */
function fixture(): { dir: string; cert: string; key: string; up: string; down: string; upSha: string; downSha: string } {
  const dir = tempDir('qs-go');
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const [up, down] = [randomBytes(UP), randomBytes(DOWN)];
  writeFileSync(path.join(dir, 'up'), up);
  writeFileSync(path.join(dir, 'down'), down);
  return { dir, ...testCertificate(dir), up: path.join(dir, 'up'), down: path.join(dir, 'down'), upSha: sha(up), downSha: sha(down) };
}
type Fixture = ReturnType<typeof fixture>;

interface ServerSpec {
  listen: string;
  port: number;
  sid: string;
  first: string;
  cidLen: number;
  log: string;
}

type Event = { ev: string } & Record<string, unknown>;
const events = (log: string): Event[] =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Event)
    : [];

/** A quicgo-peer server in the namespace, once its log says it listens. */
async function startServer(ns: Netns, f: Fixture, s: ServerSpec, extra: string[] = []): Promise<ChildProcess> {
  const args = ['--listen', s.listen, '--cert', f.cert, '--key', f.key, '--sid', s.sid, '--cid-first-octet', s.first, '--cid-len', String(s.cidLen), '--download', f.down, '--log', s.log, ...extra];
  const p = spawn('ip', ['netns', 'exec', ns.name, PEER, 'server', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  claimChild(p);
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 250 && !events(s.log).some((e) => e.ev === 'listening'); i++) {
    if (p.exitCode !== null) throw new Error(`quicgo-peer server exited ${p.exitCode}: ${err.trim()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!events(s.log).some((e) => e.ev === 'listening')) throw new Error(`quicgo-peer server did not log listening: ${err.trim()}`);
  return p;
}

async function stopServer(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await gone;
}

interface ClientRun {
  code: number;
  stderr: string;
  ms: number;
}

/** quicgo-peer client in the namespace; `child` lets the caller act while it runs. */
function startClient(ns: Netns, args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<ClientRun> } {
  const t0 = process.hrtime.bigint();
  const child = spawn('ip', ['netns', 'exec', ns.name, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), PEER, 'client', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  claimChild(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ClientRun>((resolve) => child.once('close', (code) => resolve({ code: code ?? -1, stderr, ms: Number((process.hrtime.bigint() - t0) / 1_000_000n) })));
  return { child, done };
}

const sha256File = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const oneLine = (s: string) => s.endsWith('\n') && !s.slice(0, -1).includes('\n');

/** The server ID `quicsteer cid decode` finds in a CID (null when it finds none). */
const decodedSid = (cid: Buffer, spec: string) => cliJson<{ serverId: string | null }>(cli(['cid', 'decode', cid.toString('hex'), '--cid', spec, '--json'])).serverId;

/** CIDs in the NEW_CONNECTION_ID frames each server port sent, decrypted with the client's key log. */
function newConnectionIds(pcap: string, keylog: string, ports: number[]): Map<number, Buffer[]> {
  const r = spawnSync('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keylog}`, ...ports.flatMap((p) => ['-d', `udp.port==${p},quic`]), '-Y', 'quic.frame_type == 0x18', '-T', 'fields', '-e', 'udp.srcport', '-e', 'quic.nci.connection_id'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark: ${r.stderr}`);
  const out = new Map(ports.map((p) => [p, [] as Buffer[]]));
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [port, cids] = line.split('\t');
    out.get(Number(port))?.push(...cids!.split(',').filter(Boolean).map((h) => Buffer.from(h, 'hex')));
  }
  return out;
}

privilegedSerial('quic-go peer: client to server, 2 MiB up and 3 MiB down byte-identical over three connections; the contract log lines; every server-issued CID on the wire (SCIDs, client DCIDs, NEW_CONNECTION_ID) decodes to its own server ID, 0001 (20 bytes) or 0a0b (12 bytes)', async (t) => {
  const ns = new Netns('qs-go');
  const f = fixture();
  const pcap = path.join(f.dir, 'lo.pcap');
  const keylog = path.join(f.dir, 'keys.log');
  // the lab's layout, and a second server whose CIDs differ in ID, first octet and length: each is the other's control
  const a: ServerSpec = { listen: '*:4433', port: 4433, sid: '0001', first: '13', cidLen: 20, log: path.join(f.dir, 'a.log') };
  const b: ServerSpec = { listen: '127.0.0.1:4434', port: 4434, sid: '0a0b', first: '0b', cidLen: 12, log: path.join(f.dir, 'b.log') };
  const servers: ChildProcess[] = [];
  try {
    const cap = await startCapture(ns.name, 'lo', pcap, ['udp', 'portrange', '4433-4434']);
    servers.push(await startServer(ns, f, a), await startServer(ns, f, b));
    // several connections one after another to the same server
    const runs: ClientRun[] = [];
    for (const [i, s] of [a, a, b].entries()) {
      const out = path.join(f.dir, `out${i}`);
      const r = await startClient(ns, ['--connect', `127.0.0.1:${s.port}`, '--upload', f.up, '--out', out], { SSLKEYLOGFILE: keylog }).done;
      t.is(r.code, 0, `client ${i} to ${s.port}: ${r.stderr}`);
      t.is(r.stderr, '');
      t.is(sha256File(out), f.downSha, `client ${i}: the download arrived byte-identical`);
      runs.push(r);
    }
    t.log(`2 MiB up + 3 MiB down on loopback: ${runs.map((r) => r.ms).join(', ')} ms per client (process start to exit)`);
    await new Promise((r) => setTimeout(r, 200)); // the servers log "closed" on the clients' CONNECTION_CLOSE
    await cap.stop();

    for (const [s, conns] of [[a, 2], [b, 1]] as const) {
      const ev = events(s.log);
      const of = (name: string) => ev.filter((e) => e.ev === name);
      t.deepEqual(ev[0], { ev: 'listening', addr: s.listen.replace('*', '0.0.0.0') });
      t.is(of('conn').length, conns, `${s.sid}: one conn line per connection`);
      t.true(of('conn').every((e) => /^127\.0\.0\.1:\d+$/.test(e.remote as string)));
      t.deepEqual(of('upload'), Array(conns).fill({ ev: 'upload', bytes: UP, sha256: f.upSha }), `${s.sid}: the uploads arrived byte-identical`);
      t.deepEqual(of('sent'), Array(conns).fill({ ev: 'sent', bytes: DOWN }));
      t.is(of('closed').length, conns);
      t.true(of('closed').every((e) => /Application error 0x0/.test(e.reason as string)), JSON.stringify(of('closed')));
      t.deepEqual(of('error'), []);
      t.deepEqual(of('remote'), [], 'quic-go 0.29 exposes no changing peer address');
    }

    const d = udpDatagrams(pcap);
    const ncids = newConnectionIds(pcap, keylog, [a.port, b.port]);
    for (const [s, conns] of [[a, 2], [b, 1]] as const) {
      const wire = serverIssuedCids(d, s.port, s.cidLen);
      const issued = ncids.get(s.port)!;
      t.true(wire.serverScids.length >= conns, `${s.sid}: ${wire.serverScids.length} long-header SCIDs`);
      t.true(wire.clientDcids.length >= 3 * conns, `${s.sid}: ${wire.clientDcids.length} short-header DCIDs from the client`);
      t.true(issued.length >= 2 * conns, `${s.sid}: ${issued.length} CIDs in NEW_CONNECTION_ID frames`);
      const cids = [...new Map([...wire.serverScids, ...wire.clientDcids, ...issued].map((c) => [c.toString('hex'), c])).values()];
      t.log(`server ${s.sid}: ${cids.length} distinct CIDs issued on the wire, e.g. ${cids[0]!.toString('hex')}`);
      t.true(cids.every((c) => c.length === s.cidLen && c[0] === parseInt(s.first, 16)), `${s.sid}: ${s.cidLen} bytes, first octet ${s.first}`);
      const spec = `quic-lb:sid=2,nonce=${s.cidLen - 3}`;
      t.deepEqual([...new Set(cids.map((c) => decodedSid(c, spec)))], [s.sid], `${s.sid}: every CID decodes to the server's ID (${spec})`);
    }
  } finally {
    for (const p of servers) await stopServer(p);
    ns.destroy();
  }
});

privilegedSerial('quic-go peer: a client to a port with no server exits 1 with one stderr line once its idle timeout (default 5000 ms, or --idle-timeout-ms) has passed', async (t) => {
  const ns = new Netns('qs-go');
  const f = fixture();
  try {
    const runs = await Promise.all(
      [[], ['--idle-timeout-ms', '1500']].map((extra) => startClient(ns, ['--connect', '127.0.0.1:4499', '--upload', f.up, '--out', path.join(f.dir, `out${extra.length}`), ...extra]).done),
    );
    for (const [r, idle] of [[runs[0]!, 5000], [runs[1]!, 1500]] as const) {
      t.is(r.code, 1, r.stderr);
      t.true(oneLine(r.stderr), r.stderr);
      t.regex(r.stderr, new RegExp(`^quicgo-peer: idle timeout: handshake with 127\\.0\\.0\\.1:4499: no packet from the server for ${idle} ms\\n$`));
      t.true(r.ms >= idle && r.ms < idle + 2000, `exited after ${r.ms} ms (idle timeout ${idle} ms)`);
    }
  } finally {
    ns.destroy();
  }
});

test('quic-go peer: bad usage exits 2 with one stderr line and creates no log', (t) => {
  const dir = tempDir('qs-go');
  const log = path.join(dir, 'log');
  const server = (...over: string[]) => {
    const o = new Map([['--listen', '127.0.0.1:4433'], ['--cert', '/nonexistent/cert.pem'], ['--key', '/nonexistent/key.pem'], ['--sid', '0001'], ['--cid-first-octet', '13'], ['--cid-len', '20'], ['--download', '/nonexistent/down'], ['--log', log]]);
    for (let i = 0; i < over.length; i += 2) (over[i + 1] === undefined ? o.delete(over[i]!) : o.set(over[i]!, over[i + 1]!));
    return ['server', ...[...o].flat()];
  };
  const cases: [string, string[], RegExp][] = [
    ['no subcommand', [], /expected 'server' or 'client'/],
    ['missing --sid', server('--sid'), /--sid is required/],
    ['--cid-len 3', server('--cid-len', '3'), /--cid-len 3: a QUIC-LB CID with a 2-byte server ID takes 7 to 20 bytes/],
    ['--cid-len 21', server('--cid-len', '21'), /--cid-len 21: .* 7 to 20 bytes/],
    ['bad hex sid', server('--sid', '00zz'), /--sid 00zz: expected 1 to 15 bytes of hex/],
    ['sid longer than --cid-len allows', server('--sid', '0102030405', '--cid-len', '9'), /--cid-len 9: a QUIC-LB CID with a 5-byte server ID takes 10 to 20 bytes/],
    ['a 16-byte sid', server('--sid', '00'.repeat(16)), /expected 1 to 15 bytes of hex/],
    ['bad first octet', server('--cid-first-octet', '100'), /--cid-first-octet 100: expected one byte in hex/],
    ['bad --listen', server('--listen', '4433'), /--listen 4433: expected <IPv4>:<port> or \*:<port>/],
    ['unknown option', [...server(), '--bogus', '1'], /flag provided but not defined: -bogus/],
    ['missing certificate', server(), /--cert \/nonexistent\/cert\.pem --key \/nonexistent\/key\.pem: open/],
    ['client without --connect', ['client', '--upload', '/etc/hostname', '--out', path.join(dir, 'out')], /--connect is required/],
    ['client --cid-len 21', ['client', '--connect', '127.0.0.1:4433', '--upload', '/etc/hostname', '--out', path.join(dir, 'out'), '--cid-len', '21'], /--cid-len 21: expected an integer from 0 to 20/],
    ['client --idle-timeout-ms 0', ['client', '--connect', '127.0.0.1:4433', '--upload', '/etc/hostname', '--out', path.join(dir, 'out'), '--idle-timeout-ms', '0'], /--idle-timeout-ms 0: expected an integer/],
  ];
  for (const [what, args, msg] of cases) {
    const r = spawnSync(PEER, args, { encoding: 'utf8' });
    t.is(r.status, 2, `${what}: ${r.stderr}`);
    t.true(oneLine(r.stderr), `${what}: ${JSON.stringify(r.stderr)}`);
    t.regex(r.stderr, msg, what);
    t.is(r.stdout, '', what);
  }
  t.false(existsSync(log), 'no log file was created');
  t.false(existsSync(path.join(dir, 'out')), 'no client output file was created');
});

privilegedSerial("quic-go 0.29's limit: after a NAT rebinding mid-transfer its server keeps sending to the old port and the client gives up (exit 1, one line); the same transfer without the rebinding completes (control)", async (t) => {
  const c = new Netns('qs-goc');
  const s = new Netns('qs-gos');
  const f = fixture();
  const pcap = path.join(f.dir, 'v1.pcap');
  const srv: ServerSpec = { listen: '10.9.0.1:4433', port: 4433, sid: '0001', first: '13', cidLen: 20, log: path.join(f.dir, 'server.log') };
  let server: ChildProcess | undefined;
  try {
    c.ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', s.name);
    c.ip('addr', 'add', '10.9.0.2/24', 'dev', 'v0');
    s.ip('addr', 'add', '10.9.0.1/24', 'dev', 'v1');
    c.ip('link', 'set', 'v0', 'up');
    s.ip('link', 'set', 'v1', 'up');
    // 20 Mbit/s both ways: the transfer takes over a second, so the rebinding lands mid-transfer
    for (const [ns, dev] of [[c, 'v0'], [s, 'v1']] as const) sh('ip', 'netns', 'exec', ns.name, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', '20mbit', 'burst', '64kb', 'latency', '50ms');
    // the client's "NAT": its packets to the server leave from one source port; a rebinding swaps the
    // port and forgets the old mapping, so the server's packets to the old port reach no socket
    const natPort = (port: number) => {
      execFileSync('ip', ['netns', 'exec', c.name, 'nft', '-f', '-'], { input: `flush ruleset\ntable ip nat {\n chain post {\n  type nat hook postrouting priority srcnat;\n  udp dport 4433 snat to 10.9.0.2:${port}\n }\n}\n` });
      spawnSync('ip', ['netns', 'exec', c.name, 'conntrack', '-D', '-p', 'udp'], { stdio: 'ignore' }); // exits 1 when there was none
    };
    const cap = await startCapture(s.name, 'v1', pcap, ['udp', 'port', '4433'], 96);
    server = await startServer(s, f, srv, ['--idle-timeout-ms', '2000']);
    const client = (out: string) => startClient(c, ['--connect', '10.9.0.1:4433', '--upload', f.up, '--out', out, '--idle-timeout-ms', '2000']);

    natPort(40010);
    const control = await client(path.join(f.dir, 'out-control')).done;
    t.is(control.code, 0, `control: ${control.stderr}`);
    t.is(sha256File(path.join(f.dir, 'out-control')), f.downSha);
    t.log(`control without rebinding: 2 MiB up + 3 MiB down at 20 Mbit/s in ${control.ms} ms`);

    natPort(40000);
    const out = path.join(f.dir, 'out-rebind');
    const run = client(out);
    // rebind once the download is under way (256 KiB of 3 MiB in)
    for (let i = 0; i < 500 && (!existsSync(out) || statSync(out).size < 256 << 10); i++) await new Promise((r) => setTimeout(r, 10));
    const at = existsSync(out) ? statSync(out).size : 0;
    natPort(40001);
    const r = await run.done;
    await cap.stop();
    t.log(`rebinding after ${at} bytes of the download: client exited ${r.code} after ${r.ms} ms with ${statSync(out).size} of ${DOWN} bytes: ${r.stderr.trim()}`);
    t.true(at >= 256 << 10 && at < DOWN, 'the rebinding came mid-transfer');
    t.is(r.code, 1);
    t.true(oneLine(r.stderr), r.stderr);
    t.regex(r.stderr, /^quicgo-peer: idle timeout: transfer: .*no packet from the server for 2000 ms\n$/);
    t.true(statSync(out).size < DOWN, 'the download stopped short');

    // what the server's link carried from the client's first packet from its new port on
    const d = udpDatagrams(pcap);
    const after = d.slice(d.findIndex((x) => x.dstPort === 4433 && x.srcPort === 40001));
    const count = (from: number, to: number) => after.filter((x) => x.srcPort === from && x.dstPort === to).length;
    t.log(`after the rebinding: ${count(40001, 4433)} client packets reached the server from the new port; the server sent ${count(4433, 40000)} to the old port, ${count(4433, 40001)} to the new one`);
    t.true(count(40001, 4433) > 0, "the client's packets from its new port reached the server");
    t.true(count(4433, 40000) > 0, 'the server kept sending to the old port');
    t.is(count(4433, 40001), 0, 'the server never sent to the new port');
    const ev = events(srv.log);
    t.deepEqual(
      ev.filter((e) => e.ev === 'conn').map((e) => e.remote),
      ['10.9.0.2:40010', '10.9.0.2:40000'],
    );
    t.false(
      ev.some((e) => e.ev === 'remote'),
      'no address change to log',
    );
  } finally {
    if (server) await stopServer(server);
    c.destroy();
    s.destroy();
  }
});
