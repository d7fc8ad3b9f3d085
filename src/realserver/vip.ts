// Which addresses a real server may put on lo as a VIP: unicast, routable to it, one spelling.
import net from 'node:net';

/** The 16 bytes of an IPv6 address (dotted IPv4 tails included). */
export function ipv6Bytes(ip: string): number[] {
  // the URL parser writes an embedded IPv4 tail as hex groups and compresses once
  const norm = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head, tail] = norm.includes('::') ? norm.split('::') : [norm, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** The one spelling of an address (IPv6 compressed, lower case), as `ip -j addr` prints it. */
export function normVip(ip: string): string {
  return net.isIPv6(ip) ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

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
