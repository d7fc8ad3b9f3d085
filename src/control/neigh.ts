// MAC of an on-link address from the neighbour table, probing it (one UDP datagram) when absent.
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { RuntimeError } from './errors.js';

interface Neigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state?: string[];
}

function lookup(ip: string): Neigh | undefined {
  const out = execFileSync('ip', ['-j', 'neigh', 'show', 'to', ip], { encoding: 'utf8' });
  return (JSON.parse(out || '[]') as Neigh[]).find((n) => n.lladdr && !n.state?.includes('FAILED') && !n.state?.includes('INCOMPLETE'));
}

/** Resolves ip to {mac, dev}: from the neighbour table, else after a probe (the kernel resolves it for us). */
export async function resolveMac(ip: string): Promise<{ mac: string; dev: string }> {
  let n = lookup(ip);
  if (!n) {
    // sending to the discard port makes the kernel resolve the neighbour
    const s = dgram.createSocket(net.isIPv6(ip) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => s.send(Buffer.alloc(0), 9, ip, () => resolve()));
    s.close();
    for (let i = 0; i < 20 && !n; i++) {
      await new Promise((r) => setTimeout(r, 50));
      n = lookup(ip);
    }
  }
  if (!n) throw new RuntimeError(`cannot resolve the MAC of ${ip}: no neighbour entry and no answer to a probe; give --mac instead`);
  return { mac: n.lladdr!.toLowerCase(), dev: n.dev };
}
