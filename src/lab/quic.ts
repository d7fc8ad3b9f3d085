// A real QUIC server (Debian's ngtcp2 gtlsserver) with a throwaway self-signed certificate.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { tempDir } from './tmp.js';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { claimChild } from './owner.js';

// Servers still running when the process exits (a test that died midway) are killed then: the
// lab's servers of every stack (src/lab/peer.ts) register here.
export const liveServers = new Set<{ destroy(): void }>();
process.on('exit', () => {
  for (const q of liveServers) q.destroy();
});

/** A throwaway self-signed certificate (EC P-256, CN quicsteer-test) as dir/cert.pem and dir/key.pem. */
export function testCertificate(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=quicsteer-test'], { stdio: 'ignore' });
  return { cert, key };
}

export interface QuicServerOptions {
  /** extra environment (e.g. LD_PRELOAD of the CID shim) */
  env?: Record<string, string>;
  /** keep the server's log (every packet's addresses and frames, no payload dumps) in `logFile` */
  log?: boolean;
}

/** A server process in a namespace, its files (certificate, log) in a temp dir of its own; killed with the test process. */
export class NetnsServer {
  readonly dir = tempDir('qs-quic');
  readonly logFile = path.join(this.dir, 'server.log');
  #p: ChildProcess | undefined;

  constructor(readonly ns: string) {
    testCertificate(this.dir);
  }

  /** Starts argv in the namespace, its stdout and stderr appended to `out` (else dropped). */
  protected run(argv: string[], out?: string): void {
    const fd = out ? openSync(out, 'a') : 'ignore';
    this.#p = spawn('ip', ['netns', 'exec', this.ns, ...argv], { stdio: ['ignore', fd, fd] });
    if (typeof fd === 'number') closeSync(fd);
    claimChild(this.#p);
    liveServers.add(this);
  }

  /** started and not exited */
  protected get running(): boolean {
    return !!this.#p && this.#p.exitCode === null && this.#p.signalCode === null;
  }

  /** The log so far ('' if there is none). */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  stop(): void {
    this.#p?.kill('SIGKILL');
    this.#p = undefined;
    liveServers.delete(this);
  }

  destroy(): void {
    this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Debian's ngtcp2 example server (gtlsserver, HTTP/3 over GnuTLS) serving files from its dir. */
export class QuicServer extends NetnsServer {
  constructor(ns: string, readonly addr: string, readonly port: number, readonly opts: QuicServerOptions = {}) {
    super(ns);
  }

  start(): void {
    const env = Object.entries(this.opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const verbosity = this.opts.log ? ['--no-quic-dump', '--no-http-dump'] : ['--quiet'];
    this.run(['env', ...env, 'gtlsserver', ...verbosity, '-d', this.dir, this.addr, String(this.port), path.join(this.dir, 'key.pem'), path.join(this.dir, 'cert.pem')], this.opts.log ? this.logFile : undefined);
  }
}
