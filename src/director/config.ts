// The director file: listeners (VIP + UDP port), scheduler, real servers (address, port, weight), health checks.
import net from 'node:net';
import { z } from 'zod';
import { Health, ServerIdHex, VipEndpoint } from '../control/schemas.js';
import { endpoint, normIp, type Service } from './ipvs.js';

export { HEALTH, Health } from '../control/schemas.js';

const RealServerCfg = z
  .object({
    address: z.string().refine((a) => net.isIP(a) !== 0, { message: 'not an IPv4 or IPv6 address' }),
    port: z.number().int().min(1).max(65535),
    weight: z.number().int().min(0).max(65535).default(1),
    /** the server ID its connection IDs carry: passed to --notify so real servers can mark it down too */
    serverId: ServerIdHex.optional(),
  })
  .strict();

export const Listener = z
  .object({
    vip: VipEndpoint,
    scheduler: z.enum(['wrr', 'wlc', 'sh', 'mh']).default('wrr'),
    /** IPVS scheduler flags: sh-port / mh-port hash the source port too, *-fallback skips unavailable servers */
    flags: z.array(z.enum(['sh-port', 'sh-fallback', 'mh-port', 'mh-fallback'])).default([]),
    realServers: z.array(RealServerCfg).min(1),
    health: Health.default({}),
  })
  .strict()
  .superRefine((l, ctx) => {
    l.flags.forEach((f, i) => {
      if (!f.startsWith(`${l.scheduler}-`)) ctx.addIssue({ code: 'custom', path: ['flags', i], message: `${f} is a flag of the ${f.split('-')[0]} scheduler, not of ${l.scheduler}` });
    });
    if (new Set(l.flags).size !== l.flags.length) ctx.addIssue({ code: 'custom', path: ['flags'], message: 'a flag is listed twice' });
    const v6 = net.isIPv6(l.vip.ip);
    l.realServers.forEach((r, i) => {
      // direct routing rewrites only the MAC: it cannot change the port or the address family
      if (r.port !== l.vip.port) ctx.addIssue({ code: 'custom', path: ['realServers', i, 'port'], message: `DR cannot change ports: real server port ${r.port} differs from the listener port ${l.vip.port}` });
      if (net.isIPv6(r.address) !== v6) ctx.addIssue({ code: 'custom', path: ['realServers', i, 'address'], message: `${r.address} is not of the VIP's address family` });
    });
    const seen = new Set<string>();
    l.realServers.forEach((r, i) => {
      const k = normIp(r.address);
      if (seen.has(k)) ctx.addIssue({ code: 'custom', path: ['realServers', i, 'address'], message: `${r.address} listed twice` });
      seen.add(k);
    });
  });

export const DirectorFile = z
  .object({ listeners: z.array(Listener) })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.listeners.forEach((l, i) => {
      const k = `${normIp(l.vip.ip)} ${l.vip.port}`;
      if (seen.has(k)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'vip'], message: `listener ${l.vip.ip}:${l.vip.port} appears twice (one UDP port per VIP)` });
      seen.add(k);
    });
  });

export type DirectorFileT = z.output<typeof DirectorFile>;
export type ListenerT = DirectorFileT['listeners'][number];

/** The IPVS services (UDP, DR) a file describes. */
export function servicesOf(f: DirectorFileT): Service[] {
  return f.listeners.map((l) => ({
    proto: 'udp' as const,
    address: normIp(l.vip.ip),
    port: l.vip.port,
    scheduler: l.scheduler,
    flags: [...l.flags].sort(),
    extra: [],
    reals: l.realServers.map((r) => ({ address: normIp(r.address), port: r.port, method: 'g' as const, weight: r.weight })),
  }));
}

/**
 * Listeners whose scheduler would drop flows when a real server's weight is 0. sh and mh keep such a
 * server in their table and, without their -fallback flag, drop the new flows that hash to it
 * (measured for mh in the VM tier: "IPVS: mh: ... no destination available"; ip_vs_sh.c does the
 * same). A weight is 0 when the file says so (a drain) or, with `health`, when a health check (director
 * health, or keepalived's inhibit_on_failure) takes a server down.
 */
export function zeroWeightWarnings(f: DirectorFileT, o: { health: boolean }): string[] {
  return f.listeners.flatMap((l) => {
    if (l.scheduler !== 'sh' && l.scheduler !== 'mh') return [];
    const fallback = `${l.scheduler}-fallback`;
    if ((l.flags as string[]).includes(fallback)) return [];
    const zero = l.realServers.filter((r) => r.weight === 0).map((r) => endpoint(normIp(r.address), r.port));
    if (!zero.length && !o.health) return [];
    const which = [...(zero.length ? [`${zero.join(', ')} in the file`] : []), ...(o.health ? ['one a health check takes down'] : [])].join(', or ');
    return [`listener ${endpoint(normIp(l.vip.ip), l.vip.port)}: ${l.scheduler} without ${fallback} drops the new flows that hash to a real server at weight 0 (${which}): add "${fallback}" to its flags`];
  });
}
