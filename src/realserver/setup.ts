// A real server's side of IPVS-DR: the VIP on lo, and ARP kept quiet about it; teardown undoes exactly that.
// Setup records what it is about to change before changing it, and completes the record after.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { RuntimeError, UsageError } from '../control/errors.js';
import { currentNetns, defaultRecordPath, RecordStore, SYSCTLS, type NetnsId, type RealServerRecordT, type SysctlKey } from './record.js';
import { normVip, vipProblem } from './vip.js';

export { DEFAULT_REALSERVER_DIR, defaultRecordPath } from './record.js';

const sysctl = (k: SysctlKey) => readFileSync(`/proc/sys/${k}`, 'utf8').trim();
const setSysctl = (k: SysctlKey, v: string) => writeFileSync(`/proc/sys/${k}`, v);
const dotted = (k: string, v: string) => `${k.replace(/\//g, '.')}=${v}`;
const sameNs = (a: NetnsId, b: NetnsId) => a.dev === b.dev && a.ino === b.ino;

function loAddresses(): string[] {
  const out = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' })) as { addr_info: { local: string }[] }[];
  return out[0]!.addr_info.map((a) => normVip(a.local));
}

function ip(...args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new RuntimeError(`ip ${args.join(' ')}: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
  }
}

const prefix = (v: string) => `${v}/${net.isIPv6(v) ? 128 : 32}`;

/** The store for a --state path (or this namespace's default), refusing another namespace's record. */
function open(statePath: string | undefined, create: boolean): { store: RecordStore; rec: RealServerRecordT | undefined; ns: NetnsId; unlock: () => void } {
  const ns = currentNetns();
  const store = new RecordStore(statePath ?? defaultRecordPath(ns), create);
  const unlock = store.lock();
  try {
    const rec = store.read();
    if (rec && !sameNs(rec.netns, ns))
      throw new RuntimeError(
        `state file ${store.file} belongs to network namespace ${rec.netns.dev}:${rec.netns.ino}, this is ${ns.dev}:${ns.ino}: run this there, or give this namespace its own --state`,
      );
    return { store, rec, ns, unlock };
  } catch (e) {
    unlock();
    throw e;
  }
}

/** Refuses, as bad usage, an address that cannot be a VIP; returns the VIPs in one spelling. */
export function checkVips(vips: string[]): string[] {
  for (const v of vips) {
    const why = vipProblem(v);
    if (why) throw new UsageError(`bad --vip '${v}': ${why}`);
  }
  return [...new Set(vips.map(normVip))];
}

export interface SetupResult {
  added: string[];
  present: string[];
  sysctls: string[];
}

export function realserverSetup(statePath: string | undefined, rawVips: string[]): SetupResult {
  const vips = checkVips(rawVips);
  const { store, rec, ns, unlock } = open(statePath, true);
  try {
    return setup(store, rec, ns, vips);
  } finally {
    unlock();
  }
}

function setup(store: RecordStore, rec: RealServerRecordT | undefined, ns: NetnsId, vips: string[]): SetupResult {
  const base: RealServerRecordT = rec ?? { version: 1, netns: ns, complete: true, addresses: [], sysctls: {} };

  // the plan: which sysctls change (with their values now) and which VIPs are missing from lo
  const sysctls: [SysctlKey, string, string][] = [];
  if (vips.some((v) => net.isIPv4(v)))
    for (const [k, v] of Object.entries(SYSCTLS) as [SysctlKey, string][]) {
      const was = sysctl(k);
      if (was !== v) sysctls.push([k, v, was]);
    }
  const have = loAddresses();
  const present = vips.filter((v) => have.includes(v));
  const missing = vips.filter((v) => !have.includes(v));
  const res: SetupResult = { added: [], present, sysctls: [] };
  if (!sysctls.length && !missing.length) return res;

  // intent first: if it cannot be recorded, nothing is changed
  const recorded = (ks: SysctlKey[], as: string[], complete: boolean): RealServerRecordT => {
    const s = { ...base.sysctls };
    for (const [k, , was] of sysctls) if (ks.includes(k)) s[k] ??= was; // the value before the first setup
    return { ...base, complete, sysctls: s, addresses: [...base.addresses, ...as.filter((a) => !base.addresses.includes(a))] };
  };
  try {
    store.write(recorded(sysctls.map(([k]) => k), missing, false));
  } catch (e) {
    throw new RuntimeError(`${(e as Error).message}: nothing was changed`);
  }

  const doneK: SysctlKey[] = [];
  try {
    for (const [k, v] of sysctls) {
      try {
        setSysctl(k, v);
      } catch (e) {
        throw new RuntimeError(`cannot set ${dotted(k, v)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      doneK.push(k);
      res.sysctls.push(dotted(k, v));
    }
    for (const v of missing) {
      ip('addr', 'add', prefix(v), 'dev', 'lo', ...(net.isIPv6(v) ? ['nodad'] : []));
      res.added.push(v);
    }
  } catch (e) {
    // record exactly what was changed; if even that fails, the intent (a superset) stays and teardown still works
    try {
      store.write(recorded(doneK, res.added, true));
    } catch {
      /* the intent record covers it */
    }
    throw e;
  }
  try {
    store.write(recorded(doneK, res.added, true));
  } catch (e) {
    throw new RuntimeError(`${(e as Error).message}: the changes are made and recorded as intended; teardown undoes them`);
  }
  return res;
}

export interface TeardownResult {
  removed: string[];
  /** VIPs setup had added that are no longer on lo (nothing to do) */
  gone: string[];
  restored: string[];
  /** the record was one setup never completed (it was interrupted) */
  incomplete: boolean;
}

export function realserverTeardown(statePath: string | undefined): TeardownResult {
  const { store, rec, unlock } = open(statePath, false);
  try {
    return teardown(store, rec);
  } finally {
    unlock();
  }
}

function teardown(store: RecordStore, rec: RealServerRecordT | undefined): TeardownResult {
  const res: TeardownResult = { removed: [], gone: [], restored: [], incomplete: rec ? !rec.complete : false };
  if (!rec) {
    // nothing was recorded, but a setup killed while writing its first record leaves a temp file
    store.remove();
    return res;
  }
  const failed: string[] = [];
  const left: RealServerRecordT = { ...rec, addresses: [], sysctls: {} };
  const have = loAddresses();
  for (const v of rec.addresses) {
    if (!have.includes(v)) {
      res.gone.push(v);
      continue;
    }
    try {
      ip('addr', 'del', prefix(v), 'dev', 'lo');
      res.removed.push(v);
    } catch (e) {
      // removed meanwhile by someone else: as good as done
      if (!loAddresses().includes(v)) res.gone.push(v);
      else (failed.push((e as Error).message), left.addresses.push(v));
    }
  }
  for (const [k, v] of Object.entries(rec.sysctls) as [SysctlKey, string][]) {
    try {
      setSysctl(k, v);
      res.restored.push(dotted(k, v));
    } catch (e) {
      failed.push(`cannot restore ${dotted(k, v)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      left.sysctls[k] = v;
    }
  }
  if (failed.length) {
    store.write(left);
    throw new RuntimeError(`${failed[0]}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ''}: what is left to undo stays in ${store.file}`);
  }
  store.remove();
  return res;
}
