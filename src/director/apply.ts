// director apply / status / remove: reconcile the IPVS table with the file, only for services quicsteer manages.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ipvsadm, plan, readServices, serviceKey, type IpvsCall, type Service } from './ipvs.js';
import { servicesOf, type DirectorFileT } from './config.js';

export const DEFAULT_DIRECTOR_STATE = '/var/lib/quicsteer/director.json';

/** What quicsteer manages on this director: the services (and the file's listeners, for the health daemon). */
export interface DirectorState {
  services: string[];
  file: DirectorFileT | null;
}

export function readState(p: string): DirectorState {
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as DirectorState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { services: [], file: null };
    throw e;
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
}

export async function directorApply(statePath: string, file: DirectorFileT, dryRun: boolean): Promise<ApplyResult> {
  const st = readState(statePath);
  const desired = servicesOf(file);
  const managed = new Set([...st.services, ...desired.map(serviceKey)]);
  const current = await readServices();
  const calls = plan(current, desired, managed);
  if (!dryRun) {
    await run(calls, current, managed);
    writeState(statePath, { services: desired.map(serviceKey), file });
  }
  return { calls: calls.map(show), applied: !dryRun && calls.length > 0 };
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
  const st = readState(statePath);
  const current = await readServices();
  const managed = new Set(st.services);
  const calls = plan(current, [], managed);
  await run(calls, current, managed);
  rmSync(statePath, { force: true });
  return { calls: calls.map(show), applied: calls.length > 0 };
}
