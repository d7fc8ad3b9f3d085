// The IPVS table as `ipvsadm -S -n` prints it, and the ipvsadm calls that turn one table into another.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { RuntimeError } from '../control/errors.js';

export type Proto = 'tcp' | 'udp' | 'fwmark';

export interface RealServer {
  address: string; // normalised IP
  port: number;
  /** g = direct routing (DR), i = tunnel, m = masquerade */
  method: 'g' | 'i' | 'm';
  weight: number;
}

export interface Service {
  proto: Proto;
  address: string; // normalised IP (or the fwmark number)
  port: number;
  scheduler: string;
  /** scheduler flags (-b), sorted: sh-port makes sh hash the source port too, so a rebinding moves */
  flags: string[];
  /** options quicsteer does not manage (persistence, ...), kept as ipvsadm printed them */
  extra: string[];
  reals: RealServer[];
}

/** A normalised IP: lower-case, IPv6 in the URL parser's canonical form. */
export function normIp(ip: string): string {
  if (net.isIPv6(ip)) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  return ip;
}

export function endpoint(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

export function serviceKey(s: { proto: Proto; address: string; port: number }): string {
  return `${s.proto} ${endpoint(s.address, s.port)}`;
}

function splitEndpoint(ep: string): { address: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(ep) ?? /^([^:]+):(\d+)$/.exec(ep);
  if (!m) throw new Error(`ipvsadm printed an address I cannot read: ${ep}`);
  return { address: normIp(m[1]!), port: Number(m[2]) };
}

const PROTO_FLAG: Record<string, Proto> = { '-t': 'tcp', '-u': 'udp', '-f': 'fwmark' };

/** Parses `ipvsadm -S -n` (the save format): one -A line per service, one -a line per real server. */
export function parseSave(text: string): Service[] {
  const services = new Map<string, Service>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const tok = line.split(/\s+/);
    const cmd = tok[0];
    const proto = PROTO_FLAG[tok[1]!];
    if ((cmd !== '-A' && cmd !== '-a') || !proto) throw new Error(`ipvsadm -S printed a line I cannot read: ${line}`);
    const where = proto === 'fwmark' ? { address: tok[2]!, port: 0 } : splitEndpoint(tok[2]!);
    const key = serviceKey({ proto, ...where });
    const rest = tok.slice(3);
    if (cmd === '-A') {
      const s: Service = { proto, ...where, scheduler: 'wlc', flags: [], extra: [], reals: [] };
      for (let i = 0; i < rest.length; i++) {
        if (rest[i] === '-s') s.scheduler = rest[++i]!;
        else if (rest[i] === '-b') s.flags = rest[++i]!.split(',').sort();
        else s.extra.push(rest[i]!);
      }
      services.set(key, s);
    } else {
      const s = services.get(key);
      if (!s) throw new Error(`ipvsadm -S printed a real server before its service: ${line}`);
      let r: RealServer | undefined;
      let method: RealServer['method'] = 'g';
      let weight = 1;
      for (let i = 0; i < rest.length; i++) {
        const t = rest[i]!;
        if (t === '-r') r = { ...splitEndpoint(rest[++i]!), method, weight };
        else if (t === '-g' || t === '-i' || t === '-m') method = t.slice(1) as RealServer['method'];
        else if (t === '-w') weight = Number(rest[++i]);
        // -x / -y thresholds and tunnel options are not quicsteer's: ignored when comparing
        else if (t === '-x' || t === '-y' || t === '--tun-type' || t === '--tun-port') i++;
      }
      if (!r) throw new Error(`ipvsadm -S printed a real server line without -r: ${line}`);
      s.reals.push({ ...r, method, weight });
    }
  }
  return [...services.values()];
}

/** One ipvsadm call, as an argument vector. */
export type IpvsCall = string[];

function svcArgs(s: { proto: Proto; address: string; port: number }): string[] {
  return [s.proto === 'udp' ? '-u' : s.proto === 'tcp' ? '-t' : '-f', s.proto === 'fwmark' ? s.address : endpoint(s.address, s.port)];
}

/**
 * The calls that turn the current services into the desired ones, touching only `managed` services
 * (by serviceKey): missing services and reals are added, changed ones edited, stale ones deleted.
 */
export function plan(current: Service[], desired: Service[], managed: Set<string>): IpvsCall[] {
  const calls: IpvsCall[] = [];
  const cur = new Map(current.map((s) => [serviceKey(s), s]));
  const want = new Map(desired.map((s) => [serviceKey(s), s]));
  for (const [key, d] of want) {
    const c = cur.get(key);
    const sched = ['-s', d.scheduler, ...(d.flags.length ? ['-b', d.flags.join(',')] : [])];
    if (!c) calls.push(['-A', ...svcArgs(d), ...sched]);
    else if (c.scheduler !== d.scheduler || c.flags.join() !== d.flags.join()) calls.push(['-E', ...svcArgs(d), ...sched, ...c.extra]);
    const creals = new Map((c?.reals ?? []).map((r) => [endpoint(r.address, r.port), r]));
    for (const r of d.reals) {
      const ep = endpoint(r.address, r.port);
      const x = creals.get(ep);
      if (!x) calls.push(['-a', ...svcArgs(d), '-r', ep, `-${r.method}`, '-w', String(r.weight)]);
      else if (x.weight !== r.weight || x.method !== r.method) calls.push(['-e', ...svcArgs(d), '-r', ep, `-${r.method}`, '-w', String(r.weight)]);
    }
    for (const [ep] of creals) if (!d.reals.some((r) => endpoint(r.address, r.port) === ep)) calls.push(['-d', ...svcArgs(d), '-r', ep]);
  }
  for (const [key, c] of cur) if (managed.has(key) && !want.has(key)) calls.push(['-D', ...svcArgs(c)]);
  return calls;
}

/** The one line a failed ipvsadm call becomes (ENOENT: not installed; the kernel's IPVS missing; else its stderr). */
export function ipvsadmFailure(args: string[], code: string | number | undefined, stderr: string): RuntimeError {
  if (code === 'ENOENT') return new RuntimeError('ipvsadm not found: install it (apt-get install ipvsadm)');
  if (/Can't initialize ipvs/.test(stderr))
    return new RuntimeError("IPVS is not available in this kernel (ipvsadm: Can't initialize ipvs: Protocol not available): the director needs CONFIG_IP_VS or the ip_vs module");
  const line = stderr.trim().split('\n').find((l) => !l.startsWith('modprobe:')) ?? '';
  return new RuntimeError(`ipvsadm ${args.join(' ')}: ${line || `exit ${String(code)}`}`);
}

/** Runs ipvsadm; a missing ipvsadm or a kernel without IPVS become one clear line. */
export function ipvsadm(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ipvsadm', args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      reject(ipvsadmFailure(args, (err as NodeJS.ErrnoException).code, stderr));
    });
  });
}

export async function readServices(): Promise<Service[]> {
  return parseSave(await ipvsadm(['-S', '-n']));
}
