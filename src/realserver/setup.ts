// A real server's side of IPVS-DR: the VIP on lo, and ARP kept quiet about it; teardown undoes exactly that.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { RuntimeError } from '../control/errors.js';
import { normIp } from '../director/ipvs.js';

export const DEFAULT_REALSERVER_STATE = '/run/quicsteer/realserver.json';

// LVS-DR: answer ARP only for addresses on the asking interface (1), and never source ARP from the
// VIP (2). IPv6 answers neighbour solicitations only for addresses on the receiving interface, so
// a VIP on lo (added with nodad) is already silent there.
const SYSCTLS: Record<string, string> = {
  'net/ipv4/conf/all/arp_ignore': '1',
  'net/ipv4/conf/all/arp_announce': '2',
  'net/ipv4/conf/lo/arp_ignore': '1',
  'net/ipv4/conf/lo/arp_announce': '2',
};

/** What setup changed, so teardown restores it and nothing else. */
export interface RealServerState {
  /** VIPs setup added to lo (not ones that were already there) */
  addresses: string[];
  /** sysctl -> the value before setup changed it */
  sysctls: Record<string, string>;
}

function readState(p: string): RealServerState {
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as RealServerState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { addresses: [], sysctls: {} };
    throw e;
  }
}

function writeState(p: string, s: RealServerState): void {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(`${p}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${p}.tmp`, p);
}

const sysctl = (k: string) => readFileSync(`/proc/sys/${k}`, 'utf8').trim();
const setSysctl = (k: string, v: string) => writeFileSync(`/proc/sys/${k}`, v);

function loAddresses(): string[] {
  const out = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' })) as { addr_info: { local: string }[] }[];
  return out[0]!.addr_info.map((a) => normIp(a.local));
}

function ip(...args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new RuntimeError(`ip ${args.join(' ')}: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
  }
}

export interface SetupResult {
  added: string[];
  present: string[];
  sysctls: string[];
}

export function realserverSetup(statePath: string, vips: string[]): SetupResult {
  const st = readState(statePath);
  const res: SetupResult = { added: [], present: [], sysctls: [] };
  try {
    if (vips.some((v) => net.isIPv4(v)))
      for (const [k, v] of Object.entries(SYSCTLS)) {
        const was = sysctl(k);
        if (was === v) continue;
        st.sysctls[k] ??= was;
        setSysctl(k, v);
        res.sysctls.push(`${k.replace(/\//g, '.')}=${v}`);
      }
    const have = loAddresses();
    for (const raw of vips) {
      const v = normIp(raw);
      if (have.includes(v)) {
        res.present.push(v);
        continue;
      }
      if (net.isIPv6(v)) ip('addr', 'add', `${v}/128`, 'dev', 'lo', 'nodad');
      else ip('addr', 'add', `${v}/32`, 'dev', 'lo');
      st.addresses.push(v);
      res.added.push(v);
    }
  } finally {
    // whatever was changed is recorded, even if a later step failed
    writeState(statePath, st);
  }
  return res;
}

export interface TeardownResult {
  removed: string[];
  restored: string[];
}

export function realserverTeardown(statePath: string): TeardownResult {
  const st = readState(statePath);
  const have = loAddresses();
  const removed: string[] = [];
  for (const v of st.addresses) {
    if (!have.includes(v)) continue;
    ip('addr', 'del', `${v}/${net.isIPv6(v) ? 128 : 32}`, 'dev', 'lo');
    removed.push(v);
  }
  const restored = Object.entries(st.sysctls).map(([k, v]) => (setSysctl(k, v), `${k.replace(/\//g, '.')}=${v}`));
  rmSync(statePath, { force: true });
  return { removed, restored };
}
