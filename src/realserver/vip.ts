// Which addresses a real server may put on lo as a VIP: unicast, routable to it, one spelling.
import net from 'node:net';
import { ipBytes } from '../datapath/tables.js';
import { normIp } from '../director/ipvs.js';

/** The 16 bytes of an IPv6 address (the data path's own parser). */
export function ipv6Bytes(ip: string): number[] {
  return [...ipBytes(ip).addr];
}

/** The one spelling of an address (IPv6 compressed, lower case), as `ip -j addr` prints it. */
export const normVip = normIp;

/** Why an address cannot be a real server's VIP, or undefined when it can. */
export function vipProblem(ip: string): string | undefined {
  if (net.isIPv4(ip)) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    if (ip === '255.255.255.255') return 'the broadcast address is not a VIP';
    if (a === 0) return 'an unspecified ("this network") address is not a VIP';
    if (a === 127) return 'a loopback address is not a VIP';
    if (a >= 224 && a <= 239) return 'a multicast address is not a VIP';
    if (a === 169 && b === 254) return 'a link-local address is not a VIP';
    return undefined;
  }
  if (!net.isIPv6(ip)) return 'not an IPv4 or IPv6 address';
  const x = ipv6Bytes(ip);
  if (x.every((v) => v === 0)) return 'the unspecified address :: is not a VIP';
  if (x.slice(0, 15).every((v) => v === 0) && x[15] === 1) return 'the loopback address ::1 is not a VIP';
  if (x.slice(0, 10).every((v) => v === 0) && x[10] === 0xff && x[11] === 0xff)
    return `an IPv4-mapped IPv6 address never matches IPv4 traffic: write it as IPv4 (${x.slice(12).join('.')})`;
  if (x[0] === 0xff) return 'a multicast address is not a VIP';
  if (x[0] === 0xfe && (x[1]! & 0xc0) === 0x80) return 'a link-local address is not a VIP';
  return undefined;
}
