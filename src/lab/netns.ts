// Network namespaces and veth pairs the lab (tests, demo) creates and always removes, with what runs in them.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { native } from '../bpf/native.js';
import { claim } from './owner.js';

export function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// Namespaces still there when the process exits (a test that died midway) are removed then.
const live = new Set<Netns>();
process.on('exit', () => {
  for (const ns of live) ns.destroy();
});

export class Netns {
  readonly name: string;

  constructor(prefix = 'qs') {
    this.name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
    claim({ kind: 'netns', name: this.name });
    sh('ip', 'netns', 'add', this.name);
    live.add(this);
    this.ip('link', 'set', 'lo', 'up');
  }

  get path(): string {
    return `/run/netns/${this.name}`;
  }

  /** `ip` run inside this namespace. */
  ip(...args: string[]): string {
    return sh('ip', '-n', this.name, ...args);
  }

  /** Runs fn with this thread inside the namespace (sync only), then returns to the original one. */
  enter<T>(fn: () => T): T {
    const n = native();
    const back = n.netnsOpen('/proc/thread-self/ns/net');
    const target = n.netnsOpen(this.path);
    try {
      n.netnsSet(target);
      try {
        return fn();
      } finally {
        n.netnsSet(back);
      }
    } finally {
      n.close(target);
      n.close(back);
    }
  }

  /** A veth pair a <-> b inside the namespace, both up. */
  veth(a: string, b: string): void {
    this.ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    this.ip('link', 'set', a, 'up');
    this.ip('link', 'set', b, 'up');
  }

  /** Plugs `ns` into this namespace's bridge: a veth from `port` (on the bridge) to `dev` (in `ns`, with `addr`), both ends up. */
  plug(ns: Netns, port: string, dev: string, addr: string, bridge = 'br0'): void {
    this.ip('link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', ns.name);
    this.ip('link', 'set', port, 'master', bridge, 'up');
    ns.ip('addr', 'add', addr, 'dev', dev);
    ns.ip('link', 'set', dev, 'up');
  }

  /** An interface's MAC address (aa:bb:cc:dd:ee:ff). */
  mac(dev: string): string {
    return (JSON.parse(this.ip('-j', 'link', 'show', dev)) as { address: string }[])[0]!.address;
  }

  /** Processes running inside the namespace. */
  pids(): number[] {
    return sh('ip', 'netns', 'pids', this.name).split('\n').filter(Boolean).map(Number);
  }

  /** XDP program id attached to an interface, or undefined (reads `ip -j link`). */
  xdpProgId(ifname: string): number | undefined {
    const [link] = JSON.parse(this.ip('-j', '-d', 'link', 'show', 'dev', ifname)) as { xdp?: { prog?: { id: number }; attached?: { prog?: { id: number } }[] } }[];
    return link?.xdp?.prog?.id ?? link?.xdp?.attached?.[0]?.prog?.id;
  }

  destroy(): void {
    if (!live.delete(this)) return;
    // a process left inside would keep the namespace (and its interfaces) alive after the delete
    let inside: number[] = [];
    try {
      inside = this.pids();
    } catch {
      /* the delete below says what is wrong */
    }
    for (const pid of inside) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* exited meanwhile */
      }
    }
    sh('ip', 'netns', 'delete', this.name);
  }
}
