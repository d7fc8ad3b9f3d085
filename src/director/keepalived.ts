// A keepalived configuration for a director file: one virtual_server per listener whose real servers are
// checked by `quicsteer probe` (MISC_CHECK), and, when asked, one VRRP instance that moves the VIPs.
// Every keyword is keepalived 2.2's (keepalived.conf(5)); what it would refuse or warn about is refused here.
import net from 'node:net';
import { UsageError } from '../control/errors.js';
import { endpoint, normIp } from './ipvs.js';
import { names, notifyArgs } from './health.js';
import type { DirectorFileT, ListenerT } from './config.js';

// VRRPv3 (keepalived's only version for IPv6) carries the advert interval in centiseconds, 12 bits: < 40.96 s
const V3_MAX_ADVERT = 40;
// The probe's process starts in about 0.1 s on an idle host, but keepalived starts every real server's
// check at once: in the VM tier (TCG, 2 vCPUs, four checks together) a 1 s margin killed live probes
// ("timed out after 1 retry") and took a healthy server to weight 0. A slow start is not a dead server:
// the probe ends itself at its own timeout, this only bounds a process that hangs.
const MISC_SLACK = 5;

// What keepalived carries as it is: a quoted string is split into words and unescaped again, '#' and
// '!' start comments, '$' substitutes parameters, braces open and close blocks.
const SAFE = /^[A-Za-z0-9._+,:=@%/-]+$/;
const SAFE_CHARS = 'letters, digits and . _ + , : = @ % / -';
const shown = (s: string) => (/[\x00-\x1f\x7f]/.test(s) ? JSON.stringify(s) : `'${s}'`);

/** Refuses a program keepalived could not run as written: relative, or with a character its quoting does not carry. */
export function checkProgram(p: string, what: string): string {
  if (!p.startsWith('/')) throw new UsageError(`bad ${what} ${shown(p)}: give an absolute path (keepalived runs programs from /)`);
  if (!SAFE.test(p)) throw new UsageError(`bad ${what} ${shown(p)}: keepalived's configuration cannot carry ${JSON.stringify(p.match(/[^A-Za-z0-9._+,:=@%/-]/)![0])} in a program path (use ${SAFE_CHARS})`);
  return p;
}

/** Refuses a name (router_id, interface) that would not stay one keepalived word. */
export function checkWord(w: string, what: string): string {
  if (!SAFE.test(w)) throw new UsageError(`bad ${what} ${shown(w)}: one word of ${SAFE_CHARS}`);
  return w;
}

export interface VrrpOptions {
  interface: string;
  /** virtual_router_id, 1..255: the same on both directors */
  id: number;
  /** 1..254 (255 is an address owner's) */
  priority: number;
  state: 'master' | 'backup';
  /** whole seconds */
  advertInt: number;
  nopreempt: boolean;
  /** unicast adverts to these (networks without multicast); empty: multicast */
  unicastPeers: string[];
  /** run on every state change: keepalived adds INSTANCE quicsteer MASTER|BACKUP|FAULT|STOP <priority> */
  notify?: string;
}

export interface KeepalivedOptions {
  /** the director file, as the header names it */
  source: string;
  /** the file written (-o), for the header's command */
  output?: string;
  /** the quicsteer command MISC_CHECK runs (absolute) */
  quicsteer: string;
  routerId?: string;
  /** run as <program> up|down <vip:port> <rs:port> [server-id] on each real server transition */
  notify?: string;
  vrrp?: VrrpOptions;
}

/** A file name as a shell word, for the header (a comment line: no control characters). */
function shellWord(s: string): string {
  if (/[\x00-\x1f\x7f]/.test(s)) throw new UsageError(`${shown(s)} has a control character: the configuration's header cannot name it`);
  return SAFE.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command that writes this configuration again (shown in its header). */
function command(o: KeepalivedOptions): string {
  const a = ['quicsteer director keepalived -f', shellWord(o.source), '--quicsteer', o.quicsteer];
  if (o.routerId) a.push('--router-id', o.routerId);
  if (o.notify) a.push('--notify', o.notify);
  const v = o.vrrp;
  if (v) {
    a.push('--vrrp', v.interface, '--vrrp-id', String(v.id), '--priority', String(v.priority), '--state', v.state, '--advert-int', String(v.advertInt));
    if (v.nopreempt) a.push('--nopreempt');
    for (const p of v.unicastPeers) a.push('--unicast-peer', p);
    if (v.notify) a.push('--vrrp-notify', v.notify);
  }
  if (o.output) a.push('-o', shellWord(o.output));
  return a.join(' ');
}

/** `head {`, the lines indented (blank ones stay blank), `}`. */
const block = (head: string, lines: string[]) => [`${head} {`, ...lines.map((l) => (l ? `    ${l}` : '')), '}'];

function vrrpInstance(file: DirectorFileT, v: VrrpOptions): string[] {
  if (v.nopreempt && v.state === 'master') throw new UsageError('director keepalived: --nopreempt needs --state backup (keepalived clears nopreempt on an instance that starts as MASTER)');
  if (!file.listeners.length) throw new UsageError('director keepalived: the file has no listeners, so the VRRP instance would have no VIP (keepalived refuses one without)');
  const vips = [...new Set(file.listeners.map((l) => normIp(l.vip.ip)))];
  const peers = v.unicastPeers.map(normIp);
  const peerFamilies = new Set(peers.map((p) => net.isIP(p)));
  if (peerFamilies.size > 1) throw new UsageError('director keepalived: --unicast-peer addresses of both families: a VRRP instance speaks one (give the peers of one family)');
  if (new Set(peers).size !== peers.length) throw new UsageError('director keepalived: an --unicast-peer is given twice');
  // The adverts carry one family's VIPs (virtual_ipaddress); the other family's move with them (excluded).
  const family = peers.length ? net.isIP(peers[0]!) : vips.some((a) => net.isIPv4(a)) ? 4 : 6;
  const carried = vips.filter((a) => net.isIP(a) === family);
  const other = vips.filter((a) => net.isIP(a) !== family);
  if (!carried.length) throw new UsageError(`director keepalived: the --unicast-peer addresses are IPv${family} but no listener has an IPv${family} VIP: VRRP adverts carry VIPs of the peers' family`);
  if (family === 6 && v.advertInt > V3_MAX_ADVERT) throw new UsageError(`director keepalived: --advert-int ${v.advertInt}: an IPv6 VRRP instance (VRRPv3) takes at most ${V3_MAX_ADVERT} s`);
  const addr = (a: string) => `${a}/${net.isIPv4(a) ? 32 : 128} dev ${v.interface}`;
  return block('vrrp_instance quicsteer', [
    `state ${v.state.toUpperCase()}`,
    `interface ${v.interface}`,
    `virtual_router_id ${v.id}`,
    `priority ${v.priority}`,
    `advert_int ${v.advertInt}`,
    ...(v.nopreempt ? ['nopreempt'] : []),
    ...(peers.length ? block('unicast_peer', peers) : []),
    ...block('virtual_ipaddress', carried.map(addr)),
    ...(other.length ? ['# a VRRP instance advertises one address family: these VIPs move with the ones above', ...block('virtual_ipaddress_excluded', other.map(addr))] : []),
    ...(v.notify ? [`notify "${v.notify}"`] : []),
  ]);
}

function virtualServer(l: ListenerT, i: number, o: KeepalivedOptions): string[] {
  const vip = normIp(l.vip.ip);
  const listener = endpoint(vip, l.vip.port);
  if (l.realServers.every((r) => r.weight === 0))
    throw new UsageError(`director keepalived: listeners[${i}] (${listener}): every real server has weight 0, and keepalived needs a total weight of at least 1 (its quorum)`);
  const h = l.health;
  const reals = l.realServers.flatMap((r) => {
    const n = names(l, r);
    const notify = (to: 'up' | 'down') => `notify_${to} "${[o.notify, ...notifyArgs({ to, ...n, serverId: r.serverId })].join(' ')}"`;
    return [
      '',
      ...block(`real_server ${normIp(r.address)} ${r.port}`, [
        `weight ${r.weight}`,
        ...(o.notify ? [notify('up'), notify('down')] : []),
        ...block('MISC_CHECK', [`misc_path "${o.quicsteer} probe ${n.realServer} --timeout ${h.timeout}"`, `misc_timeout ${h.timeout + MISC_SLACK}`]),
      ]),
    ];
  });
  return [
    `# listener ${listener} (listeners[${i}])`,
    ...block(`virtual_server ${vip} ${l.vip.port}`, [
      'protocol UDP',
      'lvs_method DR',
      `lvs_sched ${l.scheduler}`,
      ...[...l.flags].sort(),
      `# health: timeout ${h.timeout}, interval ${h.interval}, unhealthyThreshold ${h.unhealthyThreshold}, healthyThreshold ${h.healthyThreshold}`,
      `# a probe every ${h.interval} s; ${h.unhealthyThreshold} failed in a row (the scheduled one, then ${h.unhealthyThreshold - 1} retries ${h.interval} s apart) -> weight 0`,
      '# keepalived has no rise count: one answered probe brings a server back, whatever healthyThreshold says',
      `delay_loop ${h.interval}`,
      `retry ${h.unhealthyThreshold - 1}`,
      `delay_before_retry ${h.interval}`,
      '# a failed server stays with weight 0, so its existing flows finish',
      'inhibit_on_failure',
      ...reals,
    ]),
  ];
}

/** The configuration text (deterministic: no time, no host name). Throws a UsageError for what keepalived would refuse. */
export function keepalivedConfig(file: DirectorFileT, o: KeepalivedOptions): string {
  checkProgram(o.quicsteer, '--quicsteer');
  if (o.notify) checkProgram(o.notify, '--notify');
  if (o.vrrp?.notify) checkProgram(o.vrrp.notify, '--vrrp-notify');
  if (o.routerId) checkWord(o.routerId, '--router-id');
  if (o.vrrp) checkWord(o.vrrp.interface, '--vrrp');
  const lines = [
    `# keepalived configuration generated by quicsteer from ${shellWord(o.source)}. Do not edit: change that file, then run`,
    `#   ${command(o)}`,
    '# keepalived manages these IPVS services: do not also run quicsteer director apply or director health on them.',
    '',
    ...block('global_defs', [
      ...(o.routerId ? [`router_id ${o.routerId}`] : []),
      '# the probe and notify programs run as root, and only from paths no other user can write',
      'enable_script_security',
      'script_user root',
    ]),
    ...(o.vrrp ? ['', ...vrrpInstance(file, o.vrrp)] : []),
    ...file.listeners.flatMap((l, i) => ['', ...virtualServer(l, i, o)]),
  ];
  return `${lines.join('\n')}\n`;
}
