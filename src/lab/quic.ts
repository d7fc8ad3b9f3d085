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

export class QuicServer {
  readonly dir = tempDir('qs-quic');
  readonly logFile = path.join(this.dir, 'server.log');
  #p: ChildProcess | undefined;

  constructor(readonly ns: string, readonly addr: string, readonly port: number, readonly opts: QuicServerOptions = {}) {
    testCertificate(this.dir);
  }

  start(): void {
    const env = Object.entries(this.opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const verbosity = this.opts.log ? ['--no-quic-dump', '--no-http-dump'] : ['--quiet'];
    const out = this.opts.log ? openSync(this.logFile, 'a') : 'ignore';
    this.#p = spawn('ip', ['netns', 'exec', this.ns, 'env', ...env, 'gtlsserver', ...verbosity, '-d', this.dir, this.addr, String(this.port), path.join(this.dir, 'key.pem'), path.join(this.dir, 'cert.pem')], { stdio: ['ignore', out, out] });
    if (typeof out === 'number') closeSync(out);
    claimChild(this.#p);
    liveServers.add(this);
  }

  /** The log so far ('' without `log`). */
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
