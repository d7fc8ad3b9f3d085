// A real QUIC server (Debian's ngtcp2 gtlsserver) with a throwaway self-signed certificate.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { tempDir } from './tmp.js';
import { rmSync } from 'node:fs';
import path from 'node:path';

export class QuicServer {
  readonly dir = tempDir('qs-quic');
  #p: ChildProcess | undefined;

  /** env: extra variables for the server (e.g. LD_PRELOAD of the CID shim). */
  constructor(readonly ns: string, readonly addr: string, readonly port: number, readonly env: Record<string, string> = {}) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(this.dir, 'key.pem'), '-out', path.join(this.dir, 'cert.pem'), '-days', '2', '-subj', '/CN=quicsteer-test'], { stdio: 'ignore' });
  }

  start(): void {
    const env = Object.entries(this.env).map(([k, v]) => `${k}=${v}`);
    this.#p = spawn('ip', ['netns', 'exec', this.ns, 'env', ...env, 'gtlsserver', '--quiet', '-d', this.dir, this.addr, String(this.port), path.join(this.dir, 'key.pem'), path.join(this.dir, 'cert.pem')], { stdio: 'ignore' });
  }

  stop(): void {
    this.#p?.kill('SIGKILL');
    this.#p = undefined;
  }

  destroy(): void {
    this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
