// The QUIC stacks the migration lab runs on its real servers and its client, and what the lab reads
// from each. ngtcp2: Debian's gtlsserver/gtlsclient (HTTP/3), CIDs from the LD_PRELOAD shim
// (src/lab/quic.ts). quiche (npm @matrixai/quic) and quic-go (Debian 0.29): the small peer programs
// under test/stacks, which share one protocol (one bidirectional stream: the client uploads a file
// while the server sends one back), so any of their clients talks to any of their servers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsServer, QuicServer } from './quic.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export type Stack = 'ngtcp2' | 'quiche' | 'quicgo';
export const STACK_NAMES: Record<Stack, string> = {
  ngtcp2: 'ngtcp2 0.12 (gtlsserver/gtlsclient)',
  quiche: 'Cloudflare quiche (@matrixai/quic 2.0.9)',
  quicgo: 'quic-go 0.29',
};

/** How a server stack's CIDs are laid out in the lab: QUIC-LB plaintext, a 2-byte server ID. */
export interface CidPlan {
  /** the first octet (config rotation 0, length self-description) */
  firstOctet: number;
  len: number;
  /** the VIP's --cid spec */
  spec: string;
}
export function cidPlan(server: Stack): CidPlan {
  // gtlsserver draws 18-byte CIDs; quiche's are its sign() output cut to 20 bytes, and quic-go is set to the same
  return server === 'ngtcp2' ? { firstOctet: 0x11, len: 18, spec: 'quic-lb:sid=2,nonce=15' } : { firstOctet: 0x13, len: 20, spec: 'quic-lb:sid=2,nonce=17' };
}

function peerProgram(stack: Exclude<Stack, 'ngtcp2'>): string[] {
  return stack === 'quiche' ? [process.execPath, path.join(ROOT, 'build/dist/test/stacks/quiche-peer.js')] : [path.join(ROOT, 'build/stacks/quicgo-peer')];
}

/** What a run needs from a real server's QUIC server, whatever its stack. */
export interface LabServer {
  readonly dir: string;
  readonly logFile: string;
  /** the file it sends each client */
  readonly download: string;
  start(): void;
  /** resolves once it listens again after start() */
  ready(): Promise<void>;
  stop(): void;
  destroy(): void;
  log(): string;
  /** the client's handshake reached this server */
  handshook(log: string): boolean;
  /** client addresses (ip:port) the server saw, in order of first appearance */
  saw(log: string): string[];
  /** the whole upload arrived (`sha256`: its digest, where the stack logs one) */
  uploadComplete(log: string, bytes: number, sha256: string): boolean;
  /** a line from the server's log saying why its CIDs are not routable, if any */
  cidProblem(log: string): string | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** gtlsserver (ngtcp2) with the CID shim: its verbose log is parsed. */
export class Ngtcp2Server extends QuicServer implements LabServer {
  get download(): string {
    return path.join(this.dir, 'data.bin');
  }
  async ready(): Promise<void> {
    await sleep(300);
  }
  handshook(log: string): boolean {
    return /rx \d+ Initial/.test(log);
  }
  saw(log: string): string[] {
    return [...new Set([...log.matchAll(/^Received packet: local=\S+ remote=\[([^\]]+)\]:(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`))];
  }
  uploadComplete(log: string, bytes: number): boolean {
    // the request stream (id 0) ends past the body: HTTP/3 HEADERS and DATA framing come on top
    const fin = [...log.matchAll(/frm rx \d+ 1RTT STREAM\(0x0[9bdf]\) id=0x0 fin=1 offset=(\d+) len=(\d+)/g)];
    return fin.some((m) => Number(m[1]) + Number(m[2]) >= bytes);
  }
  cidProblem(log: string): string | undefined {
    // the CID shim says here (once, at start) why it left a server's CIDs random
    return /^cidshim: .*$/m.exec(log)?.[0];
  }
}

type PeerLine = { ev: string; remote?: string; bytes?: number; sha256?: string; msg?: string; addr?: string };

/** A test/stacks peer program as a server: JSON lines in its log (the contract in test/stacks/README.md). */
export class PeerServer extends NetnsServer implements LabServer {
  readonly download = path.join(this.dir, 'data.bin');

  constructor(
    readonly stack: Exclude<Stack, 'ngtcp2'>,
    ns: string,
    readonly addr: string,
    readonly port: number,
    readonly sid: string,
    readonly cid: CidPlan,
    readonly idleTimeoutMs: number,
  ) {
    super(ns);
  }

  start(): void {
    const d = this.dir;
    const args = [
      'server', '--listen', `${this.addr}:${this.port}`, '--cert', path.join(d, 'cert.pem'), '--key', path.join(d, 'key.pem'),
      '--sid', this.sid, '--cid-first-octet', this.cid.firstOctet.toString(16), '--cid-len', String(this.cid.len),
      '--download', this.download, '--log', this.logFile, '--idle-timeout-ms', String(this.idleTimeoutMs),
    ];
    this.run([...peerProgram(this.stack), ...args], path.join(d, 'server.stderr'));
  }

  async ready(): Promise<void> {
    for (const t0 = Date.now(); !this.#lines(this.log()).some((l) => l.ev === 'listening'); await sleep(50)) {
      if (Date.now() - t0 > 15_000 || !this.running) throw new Error(`lab: ${this.stack} server in ${this.ns} did not listen: ${this.#stderr()}`);
    }
  }

  #stderr(): string {
    try {
      return readFileSync(path.join(this.dir, 'server.stderr'), 'utf8').trim().split('\n').slice(-5).join('\n');
    } catch {
      return '';
    }
  }

  #lines(log: string): PeerLine[] {
    return log.split('\n').filter(Boolean).flatMap((l) => {
      try {
        return [JSON.parse(l) as PeerLine];
      } catch {
        return [];
      }
    });
  }

  handshook(log: string): boolean {
    return this.#lines(log).some((l) => l.ev === 'conn');
  }

  saw(log: string): string[] {
    return [...new Set(this.#lines(log).flatMap((l) => (l.ev === 'conn' || l.ev === 'remote') && l.remote ? [l.remote] : []))];
  }

  uploadComplete(log: string, bytes: number, sha256: string): boolean {
    return this.#lines(log).some((l) => l.ev === 'upload' && l.bytes === bytes && l.sha256 === sha256);
  }

  cidProblem(): string | undefined {
    return undefined;
  }
}

/** The client's command line (run in the client's namespace) and where its download lands. */
export function clientCommand(
  stack: Stack,
  o: { vip: string; port: number; upload: string; outDir: string; idleTimeoutS: number; changeLocalAddrMs?: number },
): { argv: string[]; downloaded: string } {
  if (stack === 'ngtcp2') {
    const args = ['--quiet', '--exit-on-all-streams-close', `--timeout=${o.idleTimeoutS}s`, '-m', 'POST', '-d', o.upload, `--download=${o.outDir}`];
    if (o.changeLocalAddrMs !== undefined) args.push(`--change-local-addr=${o.changeLocalAddrMs}ms`);
    return { argv: ['gtlsclient', ...args, o.vip, String(o.port), `https://${o.vip}:${o.port}/data.bin`], downloaded: path.join(o.outDir, 'data.bin') };
  }
  if (o.changeLocalAddrMs !== undefined) throw new Error(`lab: the ${stack} client has no active migration (only gtlsclient does)`);
  const out = path.join(o.outDir, 'data.bin');
  return { argv: [...peerProgram(stack), 'client', '--connect', `${o.vip}:${o.port}`, '--upload', o.upload, '--out', out, '--idle-timeout-ms', String(o.idleTimeoutS * 1000)], downloaded: out };
}
