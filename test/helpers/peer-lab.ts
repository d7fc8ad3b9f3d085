// A real server's namespace with veth0 to a peer namespace (the director's side) and a private pin
// path: the CLI tests and the metrics test run quicsteer in it and send real UDP from the peer.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './paths.js';
import { Netns } from './netns.js';
import { TempBpffs } from './bpffs.js';
import { cli, type CliResult } from './cli.js';

export const VIP = '192.0.2.10';
export const PEER_IP = '192.0.2.2';

const macOf = (ns: Netns, dev: string) => (JSON.parse(ns.ip('-j', 'link', 'show', dev)) as { address: string }[])[0]!.address;

export class PeerLab {
  readonly ns: Netns;
  readonly peer: Netns;
  readonly fs = new TempBpffs();
  readonly peerMac: string;
  readonly selfMac: string;

  constructor(prefix: string) {
    this.ns = new Netns(prefix);
    this.peer = new Netns(`${prefix}p`);
    this.ns.ip('link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', this.peer.name);
    this.ns.ip('addr', 'add', '192.0.2.1/24', 'dev', 'veth0');
    this.ns.ip('link', 'set', 'veth0', 'up');
    this.peer.ip('addr', 'add', `${PEER_IP}/24`, 'dev', 'veth1');
    this.peer.ip('link', 'set', 'veth1', 'up');
    this.peerMac = macOf(this.peer, 'veth1');
    this.selfMac = macOf(this.ns, 'veth0');
    // the peer reaches the VIP through us, as a director would
    this.peer.ip('route', 'add', `${VIP}/32`, 'dev', 'veth1');
    this.peer.ip('neigh', 'replace', VIP, 'lladdr', this.selfMac, 'dev', 'veth1', 'nud', 'permanent');
  }

  /** quicsteer in the namespace, on the lab's pin path. */
  q(...args: string[]): CliResult {
    return cli(['--pin-path', this.fs.dir, ...args], { ns: this.ns.name });
  }

  /** UDP datagrams from the peer to the VIP, through veth0 (and so through the program). */
  sendFromPeer(payload: Buffer, count: number): void {
    const r = spawnSync('ip', ['netns', 'exec', this.peer.name, process.execPath, path.join(ROOT, 'build/dist/test/helpers/udp-peer.js'), 'send', VIP, '443', payload.toString('hex'), String(count)]);
    if (r.status !== 0) throw new Error(`send failed: ${r.stderr}`);
  }

  destroy(): void {
    this.ns.destroy();
    this.peer.destroy();
    this.fs.destroy();
  }
}
