// A UDP listener (test/helpers/udp-peer.ts) on an address inside a test namespace: collects what arrives.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './paths.js';
import type { Netns } from './netns.js';

const PEER = path.join(ROOT, 'build/dist/test/helpers/udp-peer.js');

/** A UDP listener on addr:port inside a namespace; collects what arrives. */
export class Listener {
  readonly got: { from: string; data: string }[] = [];
  readonly #p: ChildProcess;
  readonly ready: Promise<void>;

  constructor(ns: Netns, addr: string, port: number) {
    this.#p = spawn('ip', ['netns', 'exec', ns.name, process.execPath, PEER, 'listen', addr, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = '';
    this.ready = new Promise((resolve, reject) => {
      this.#p.once('exit', (c) => reject(new Error(`listener exited (${c})`)));
      this.#p.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line === 'ready') resolve();
          else this.got.push(JSON.parse(line) as { from: string; data: string });
        }
      });
    });
  }

  take(): { from: string; data: string }[] {
    return this.got.splice(0);
  }

  stop(): void {
    this.#p.stdin!.end();
    this.#p.kill();
  }
}

/** Waits until the listeners stop receiving (all sends are done before this is called). */
export async function settle(ls: Listener[], want: number): Promise<void> {
  for (let i = 0; i < 100 && ls.reduce((n, l) => n + l.got.length, 0) < want; i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100)); // a wrongly delivered extra would show up here
}
