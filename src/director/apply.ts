// director apply / status / remove: reconcile the IPVS table with the file, only for services quicsteer manages.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ipvsadm, plan, readServices, serviceKey, type IpvsCall, type Service } from './ipvs.js';
import { RuntimeError, fsErrorLine } from '../control/errors.js';
import { withDirectorLock } from '../control/lock.js';
import { servicesOf, zeroWeightWarnings, type DirectorFileT } from './config.js';

export const DEFAULT_DIRECTOR_STATE = '/var/lib/quicsteer/director.json';

/** What quicsteer manages on this director: the services (and the file's listeners, for the health daemon). */
export interface DirectorState {
  services: string[];
  file: DirectorFileT | null;
}

export function readState(p: string): DirectorState {
  let text: string;
  try {
    text = readFileSync(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { services: [], file: null };
    throw new RuntimeError(`cannot read the director state ${p}: ${fsErrorLine(e)}`, 'file');
  }
  try {
    const s = JSON.parse(text) as DirectorState;
    if (!Array.isArray(s?.services)) throw new Error('no "services" list');
    return s;
  } catch (e) {
    throw new RuntimeError(`the director state ${p} is corrupt (${(e as Error).message}): fix it, or remove it and run director apply again`, 'file');
  }
}

function writeState(p: string, s: DirectorState): void {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(`${p}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${p}.tmp`, p);
}

export const show = (c: IpvsCall) => `ipvsadm ${c.join(' ')}`;

/** Runs calls in order; if one fails, the table is brought back to `before` for the managed services. */
async function run(calls: IpvsCall[], before: Service[], managed: Set<string>): Promise<void> {
  for (let i = 0; i < calls.length; i++) {
    try {
      await ipvsadm(calls[i]!);
    } catch (e) {
      const now = await readServices();
      const back = plan(now, before.filter((s) => managed.has(serviceKey(s))), managed);
      for (const c of back) await ipvsadm(c).catch(() => undefined);
      throw e;
    }
  }
}

export interface ApplyResult {
  calls: string[];
  applied: boolean;
  /** a dry run's starting point: the IPVS table (`ipvsadm -S -n`), or an empty one when it cannot be read, and why */
  plannedFrom?: { table: 'ipvs' } | { table: 'empty'; reason: string };
  /** what the change will do that the user may not expect (flows it drops), one line each */
  warnings: string[];
}

export const EXPIRE_NODEST = '/proc/sys/net/ipv4/vs/expire_nodest_conn';

/**
 * A real server taken out of a service keeps its IPVS connection entries: with expire_nodest_conn 0
 * (the kernel's default) their packets are dropped until the entries time out (UDP: 300 s, and every
 * dropped packet of a live QUIC connection comes within that), so the connections die. With 1, IPVS
 * schedules such a flow again and quicsteer on the real server it picks steers it to its owner
 * (measured in the VM tier: test/vm/pool.test.ts).
 */
function removalWarning(calls: IpvsCall[]): string[] {
  const removed = calls.filter((c) => c[0] === '-d').map((c) => c[c.indexOf('-r') + 1]);
  if (!removed.length) return [];
  let v: string;
  try {
    v = readFileSync(EXPIRE_NODEST, 'utf8').trim();
  } catch {
    return [];
  }
  if (v !== '0') return [];
  return [
    `net.ipv4.vs.expire_nodest_conn is 0: IPVS drops the packets of flows to ${removed.join(', ')} until their entries expire; ` +
      'set it to 1 (sysctl -w net.ipv4.vs.expire_nodest_conn=1) so that IPVS schedules them again and quicsteer steers them to their owner',
  ];
}

export async function directorApply(statePath: string, file: DirectorFileT, dryRun: boolean, o: { health?: boolean } = {}): Promise<ApplyResult> {
  // a dry run changes nothing: it takes no lock (and runs without privileges)
  return dryRun ? plannedApply(statePath, file, true, o) : withDirectorLock(statePath, () => plannedApply(statePath, file, false, o));
}

async function plannedApply(statePath: string, file: DirectorFileT, dryRun: boolean, o: { health?: boolean }): Promise<ApplyResult> {
  const st = readState(statePath);
  const desired = servicesOf(file);
  const managed = new Set([...st.services, ...desired.map(serviceKey)]);
  let current: Service[];
  let plannedFrom: ApplyResult['plannedFrom'];
  if (!dryRun) current = await readServices();
  else {
    // a dry run plans on a machine without IPVS too (a CI check of the file, a director being built)
    try {
      current = await readServices();
      plannedFrom = { table: 'ipvs' };
    } catch (e) {
      current = [];
      plannedFrom = { table: 'empty', reason: (e as Error).message };
    }
  }
  const calls = plan(current, desired, managed);
  const warnings = [...zeroWeightWarnings(file, { health: !!o.health }), ...removalWarning(calls)];
  if (!dryRun) {
    await run(calls, current, managed);
    writeState(statePath, { services: desired.map(serviceKey), file });
  }
  return { calls: calls.map(show), applied: !dryRun && calls.length > 0, ...(plannedFrom ? { plannedFrom } : {}), warnings };
}

/** Fails now, with the one line ipvsadm's absence or a kernel without IPVS becomes, rather than at the first transition. */
export async function checkIpvs(): Promise<void> {
  await readServices();
}

export interface DirectorStatus {
  managed: Service[];
  /** managed services the table no longer has */
  missing: string[];
  /** services in the table quicsteer does not manage (left alone) */
  others: string[];
}

export async function directorStatus(statePath: string): Promise<DirectorStatus> {
  const st = readState(statePath);
  const current = await readServices();
  const mine = new Set(st.services);
  return {
    managed: current.filter((s) => mine.has(serviceKey(s))),
    missing: st.services.filter((k) => !current.some((s) => serviceKey(s) === k)),
    others: current.filter((s) => !mine.has(serviceKey(s))).map(serviceKey),
  };
}

export async function directorRemove(statePath: string): Promise<ApplyResult> {
  return withDirectorLock(statePath, () => plannedRemove(statePath));
}

async function plannedRemove(statePath: string): Promise<ApplyResult> {
  const st = readState(statePath);
  const current = await readServices();
  const managed = new Set(st.services);
  const calls = plan(current, [], managed);
  await run(calls, current, managed);
  rmSync(statePath, { force: true });
  return { calls: calls.map(show), applied: calls.length > 0, warnings: [] };
}
