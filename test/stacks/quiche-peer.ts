// The quiche peer of issue 16's contract (server and client): Cloudflare quiche 0.18 through npm
// @matrixai/quic, its server's connection IDs made routable (QUIC-LB plaintext) by the sign function.
//   node build/dist/test/stacks/quiche-peer.js server --listen <ip|*>:<port> --cert <pem> --key <pem>
//     --sid <hex> --cid-first-octet <hex byte> --cid-len 20 --download <file> --log <file> [--idle-timeout-ms <n>]
//   node build/dist/test/stacks/quiche-peer.js client --connect <ip>:<port> --upload <file> --out <file>
//     [--idle-timeout-ms <n>] [--cid-len 20]
// One bidirectional stream per connection: the client uploads a file while the server sends another.
import { X509Certificate, createHash, createHmac, createPrivateKey, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import { createReadStream, openSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { ReadableStream, WritableStream } from 'node:stream/web';
import Logger, { LogLevel } from '@matrixai/logger';
import { QUICClient, QUICServer, errors, events, type QUICConnection, type QUICStream } from '@matrixai/quic';
import { z } from 'zod';
import { Endpoint, ServerIdHex, WholeNumber, parse } from '../../src/control/schemas.js';
import { UsageError } from '../../src/control/errors.js';
import { encodeCid, firstOctet, type LbConfig } from '../../src/quic/quic-lb.js';

const ALPN = 'quicsteer-test';
// the TLS server name the client asks for (the test certificates' CN; clients do not verify it)
const SERVER_NAME = 'quicsteer-test';
// @matrixai/quic makes every CID (its server's from sign(), its client's random) quiche's maximum, 20 bytes
const CID_LEN = 20;
// file chunks handed to a stream, and the stream's read buffer: memory stays bounded whatever the file size
const CHUNK = 64 * 1024;
const USAGE = 'usage: quiche-peer server|client ... (see test/stacks/quiche-peer.ts)';

// the library logs through @matrixai/logger (to stderr by default): silent, stdout/stderr stay the contract's
const quiet = new Logger('quiche-peer', LogLevel.SILENT);

/** The bytes an ArrayBuffer or a view holds (the library passes Buffers where its types say ArrayBuffer). */
function bytes(b: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b);
}

/**
 * The server's crypto. @matrixai/quic derives its server's CID as sign(key, client's DCID) cut to 20
 * bytes (on the Retry it always sends, and the connection keeps it), and signs its Retry tokens with
 * the same function: so sign returns a QUIC-LB CID, first octet ‖ server ID ‖ HMAC-SHA256 cut to the
 * nonce length (unpredictable without the key), and verify recomputes it (constant time).
 */
function lbCrypto(lb: LbConfig, sid: Buffer) {
  const sign = async (key: ArrayBuffer, data: ArrayBuffer): Promise<ArrayBuffer> => {
    const nonce = createHmac('sha256', bytes(key)).update(bytes(data)).digest().subarray(0, lb.nonceLen);
    return new Uint8Array(encodeCid(lb, sid, nonce)).buffer; // a fresh buffer of its own
  };
  const verify = async (key: ArrayBuffer, data: ArrayBuffer, sig: ArrayBuffer): Promise<boolean> => {
    const want = bytes(await sign(key, data));
    const got = bytes(sig);
    return got.length === want.length && timingSafeEqual(got, want);
  };
  // a copy: a small Buffer's .buffer is Node's shared pool, which changes underneath (the handshake hangs)
  return { key: new Uint8Array(randomBytes(32)).buffer, ops: { sign, verify } };
}

/** TLS secrets to $SSLKEYLOGFILE when it is set, as other stacks do (tshark then decrypts a capture). */
const keyLog = () => (process.env.SSLKEYLOGFILE ? { logKeys: process.env.SSLKEYLOGFILE } : {});

const addr = (host: string, port: number) => `${host}:${port}`;
/** One line for an error: the library's errors carry a description, often an empty message, and a cause. */
function message(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const d = (e as { description?: string }).description;
  const text = [d, e.message].filter((x, i, a) => x && a.indexOf(x) === i).join(': ') || e.name;
  return e.cause instanceof Error ? `${text} (${message(e.cause)})` : text;
}

/** Writes a file to a stream in chunks, then FIN; returns the bytes written. */
async function sendFile(file: string, writable: WritableStream<Uint8Array>): Promise<number> {
  const w = writable.getWriter();
  let n = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) {
    await w.write(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  await w.close();
  return n;
}

/** Reads a stream to its FIN, each chunk to `sink`; returns the bytes read. */
async function drain(readable: ReadableStream<Uint8Array>, sink: (chunk: Uint8Array) => unknown): Promise<number> {
  let n = 0;
  for await (const chunk of readable) {
    await sink(chunk);
    n += chunk.length;
  }
  return n;
}

// ---- the server ----

/** <ipv4>:<port>; for a server also *:<port> (every address). */
const IPv4Endpoint = (any: boolean) =>
  z.string().superRefine((s, ctx) => {
    const ep = Endpoint.safeParse(any ? s.replace(/^\*:/, '0.0.0.0:') : s);
    if (!ep.success || !net.isIPv4(ep.data.ip)) ctx.addIssue({ code: 'custom', message: `expected ${any ? '<ipv4>|*' : '<ipv4>'}:<port>` });
  });

const ServerArgs = z.object({
  listen: IPv4Endpoint(true),
  cert: z.string().min(1),
  key: z.string().min(1),
  sid: ServerIdHex,
  'cid-first-octet': z.string().regex(/^(0x)?[0-9a-f]{1,2}$/i, 'expected one byte in hex (e.g. 13)'),
  'cid-len': WholeNumber(1, 255),
  download: z.string().min(1),
  log: z.string().min(1),
  'idle-timeout-ms': WholeNumber(1, 600_000).default('5000'),
});

/** The QUIC-LB config a server's flags make; every impossible combination is a usage error. */
function serverLb(a: z.output<typeof ServerArgs>): { lb: LbConfig; sid: Buffer } {
  if (a['cid-len'] !== CID_LEN) throw new UsageError(`--cid-len ${a['cid-len']}: @matrixai/quic's server CIDs are ${CID_LEN} bytes (sign()'s output cut to quiche's maximum), no other length`);
  const sid = Buffer.from(a.sid, 'hex');
  const octet = parseInt(a['cid-first-octet'].replace(/^0x/i, ''), 16);
  const cr = octet >> 5;
  // encodeCid writes the QUIC-LB first octet (config rotation, then the length self-encoding)
  if (cr > 6 || octet !== firstOctet(cr, CID_LEN))
    throw new UsageError(`--cid-first-octet ${a['cid-first-octet']}: a ${CID_LEN}-byte QUIC-LB CID's first octet is its config rotation (0..6) << 5 | ${CID_LEN - 1} (e.g. 13 for rotation 0)`);
  return { lb: { cr, sidLen: sid.length, nonceLen: CID_LEN - 1 - sid.length }, sid };
}

async function server(argv: string[]): Promise<void> {
  const a = parseFlags(ServerArgs, argv);
  const { lb, sid } = serverLb(a);
  const { cert, key } = await certAndKey(a.cert, a.key);
  await (await openFile(a.download, 'r', '--download')).close();
  const fd = openLog(a.log);
  // one write(2) per line, no buffering: a SIGKILL loses nothing
  const log = (o: object) => writeSync(fd, `${JSON.stringify(o)}\n`);
  process.on('uncaughtException', (e) => log({ ev: 'error', msg: `internal: ${message(e)}` }));

  const [host, port] = splitEndpoint(a.listen);
  const crypto = lbCrypto(lb, sid);
  const config = { key, cert, verifyPeer: false, applicationProtos: [ALPN], maxIdleTimeout: a['idle-timeout-ms'], readableChunkSize: CHUNK, ...keyLog() };
  // Node cannot choose a datagram's source address (no IP_PKTINFO): a wildcard socket answers a VIP
  // from the route's address and the client drops it, so `*` is a socket on each IPv4 address there is now
  for (const h of host === '*' ? localIPv4() : [host]) {
    const srv = new QUICServer({ crypto, config, logger: quiet });
    srv.addEventListener(events.EventQUICServerConnection.name, (evt) => serve((evt as events.EventQUICServerConnection).detail, a.download, log));
    try {
      await srv.start({ host: h, port });
    } catch (e) {
      throw new Error(`cannot listen on ${addr(h, port)}: ${message(e)}`);
    }
    log({ ev: 'listening', addr: addr(srv.host, srv.port) });
  }
  process.on('SIGTERM', () => process.exit(0));
}

/** The host's IPv4 addresses (in its network namespace), loopback included. */
function localIPv4(): string[] {
  const all = Object.values(os.networkInterfaces()).flatMap((l) => l ?? []);
  return [...new Set(all.filter((i) => i.family === 'IPv4').map((i) => i.address))];
}

/** One connection: its first bidirectional stream carries the upload in and the download out, at once. */
function serve(conn: QUICConnection, download: string, log: (o: object) => void): void {
  let remote = addr(conn.remoteHost, conn.remotePort);
  log({ ev: 'conn', remote });
  // the library keeps the address each datagram came from (quiche follows a NAT rebinding) but has no
  // event for a change: look at it on every datagram the connection sends, which follows every one it gets
  conn.addEventListener(events.EventQUICConnectionSend.name, () => {
    const now = addr(conn.remoteHost, conn.remotePort);
    if (now !== remote) log({ ev: 'remote', remote: (remote = now) });
  });
  let reason = 'closed';
  conn.addEventListener(events.EventQUICConnectionError.name, (evt) => {
    const e = (evt as events.EventQUICConnectionError).detail;
    reason = message(e);
    if (!graceful(e)) log({ ev: 'error', msg: reason });
  });
  conn.addEventListener(events.EventQUICConnectionStopped.name, () => log({ ev: 'closed', reason }), { once: true });
  let taken = false;
  conn.addEventListener(events.EventQUICConnectionStream.name, (evt) => {
    const s = (evt as events.EventQUICConnectionStream).detail;
    // only the client's first bidirectional stream is the protocol's
    if (taken || s.streamId !== 0) return s.cancel(new Error('not the first bidirectional stream'));
    taken = true;
    void exchange(s, download, log);
  });
}

/** A connection's close that is no error: NO_ERROR / application code 0, from either end. */
function graceful(e: Error): boolean {
  const data = (e as errors.ErrorQUICConnectionLocal<{ errorCode?: number }>).data;
  return (e instanceof errors.ErrorQUICConnectionPeer || e instanceof errors.ErrorQUICConnectionLocal) && data?.errorCode === 0;
}

async function exchange(s: QUICStream, download: string, log: (o: object) => void): Promise<void> {
  const upload = (async () => {
    const h = createHash('sha256');
    const n = await drain(s.readable, (c) => h.update(c));
    log({ ev: 'upload', bytes: n, sha256: h.digest('hex') });
  })();
  const sent = (async () => log({ ev: 'sent', bytes: await sendFile(download, s.writable) }))();
  for (const r of await Promise.allSettled([upload, sent])) if (r.status === 'rejected') log({ ev: 'error', msg: `stream: ${message(r.reason)}` });
}

// ---- the client ----

const ClientArgs = z.object({
  connect: IPv4Endpoint(false),
  upload: z.string().min(1),
  out: z.string().min(1),
  'idle-timeout-ms': WholeNumber(1, 600_000).default('5000'),
  'cid-len': WholeNumber(1, 255).default(String(CID_LEN)),
});

async function client(argv: string[]): Promise<void> {
  const a = parseFlags(ClientArgs, argv);
  if (a['cid-len'] !== CID_LEN) throw new UsageError(`--cid-len ${a['cid-len']}: @matrixai/quic's client CIDs are ${CID_LEN} bytes, no other length`);
  await (await openFile(a.upload, 'r', '--upload')).close();
  const out = await openFile(a.out, 'w', '--out');
  const [host, port] = splitEndpoint(a.connect);
  const idle = a['idle-timeout-ms'];
  const t0 = Date.now();
  let c: QUICClient;
  try {
    c = await QUICClient.createQUICClient({
      host,
      port,
      localHost: '0.0.0.0',
      serverName: SERVER_NAME,
      crypto: { ops: { randomBytes: async (b: ArrayBuffer) => void randomFillSync(bytes(b)) } },
      config: { verifyPeer: false, applicationProtos: [ALPN], maxIdleTimeout: idle, readableChunkSize: CHUNK, ...keyLog() },
      logger: quiet,
    });
  } catch (e) {
    // quiche's idle timeout is at least 3 PTOs (RFC 9000 10.1): about 3 s before any RTT sample
    const why = e instanceof errors.ErrorQUICConnectionIdleTimeout ? `no answer within the idle timeout (${idle} ms)` : message(e);
    throw new Error(`no connection to ${a.connect}: ${why}, gave up after ${Date.now() - t0} ms`);
  }
  // the first connection error says why the stream failed
  let why: string | undefined;
  c.connection.addEventListener(events.EventQUICConnectionError.name, (evt) => {
    const e = (evt as events.EventQUICConnectionError).detail;
    why ??= e instanceof errors.ErrorQUICConnectionIdleTimeout ? `idle timeout (${idle} ms without a packet)` : message(e);
  });
  const s = c.connection.newStream('bidi');
  try {
    await Promise.all([sendFile(a.upload, s.writable), drain(s.readable, (chunk) => writeAll(out, chunk))]);
    await out.close();
    await acknowledged(c.connection, s.streamId, idle);
  } catch (e) {
    throw new Error(`transfer failed: ${why ?? message(e)}`);
  }
  await c.destroy({ isApp: true, errorCode: 0, force: false });
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
}

/**
 * Waits until the peer acknowledged every byte and the FIN we sent on the stream. Closing the
 * connection earlier would drop what quiche still holds (it does not send stream data after a
 * CONNECTION_CLOSE), and the library has no signal for it: quiche forgets a stream once both of its
 * directions are complete (the FIN read, all sent data acknowledged), after which asking for its
 * send capacity fails. The library's native connection is internal: reached by name.
 */
async function acknowledged(conn: QUICConnection, streamId: number, idleMs: number): Promise<void> {
  const q = (conn as unknown as { conn: { streamCapacity(id: number): number; isClosed(): boolean } }).conn;
  for (const t0 = Date.now(); Date.now() - t0 < idleMs; await new Promise((r) => setTimeout(r, 5))) {
    if (q.isClosed()) throw new Error('the connection closed before the upload was acknowledged');
    try {
      q.streamCapacity(streamId);
    } catch {
      return;
    }
  }
  throw new Error(`the upload was not acknowledged within ${idleMs} ms`);
}

// ---- the command line ----

function parseFlags<T extends z.AnyZodObject>(schema: T, argv: string[]): z.output<T> {
  const options = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, { type: 'string' as const }]));
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError(message(e));
  }
  const missing = Object.keys(schema.shape).filter((k) => values[k] === undefined && !(schema.shape[k] instanceof z.ZodDefault));
  if (missing.length) throw new UsageError(`missing ${missing.map((k) => `--${k}`).join(', ')}`);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(schema.shape)) out[k] = parse(schema.shape[k], values[k], `--${k}`);
  return out as z.output<T>;
}

function splitEndpoint(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

async function openFile(file: string, flags: 'r' | 'w', what: string): Promise<FileHandle> {
  try {
    return await open(file, flags);
  } catch (e) {
    throw new UsageError(`${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? message(e)}`);
  }
}

async function readPem(file: string, what: string): Promise<string> {
  const fh = await openFile(file, 'r', what);
  try {
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** The PEM texts, checked here: the library reads them only when a connection comes, and fails it then. */
async function certAndKey(certFile: string, keyFile: string): Promise<{ cert: string; key: string }> {
  const cert = await readPem(certFile, '--cert');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new UsageError(`--cert ${certFile}: not a PEM certificate`);
  }
  const key = await readPem(keyFile, '--key');
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error();
  } catch {
    throw new UsageError(`--key ${keyFile}: not the private key of ${certFile}`);
  }
  return { cert, key };
}

function openLog(file: string): number {
  try {
    return openSync(file, 'a');
  } catch (e) {
    throw new UsageError(`--log ${file}: ${(e as NodeJS.ErrnoException).code ?? message(e)}`);
  }
}

async function main(): Promise<void> {
  const [role, ...argv] = process.argv.slice(2);
  try {
    if (role === 'server') await server(argv);
    else if (role === 'client') {
      await client(argv);
      process.exit(0);
    } else throw new UsageError(USAGE);
  } catch (e) {
    process.stderr.write(`quiche-peer: ${message(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
}

await main();
