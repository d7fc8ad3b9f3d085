// Builds Ethernet / IPv4 / IPv6 / UDP frames for BPF_PROG_TEST_RUN.
export const MAC_A = Buffer.from('02000000000a', 'hex');
export const MAC_B = Buffer.from('02000000000b', 'hex');

export function ipv4(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

export function eth(dst: Buffer, src: Buffer, etherType: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  dst.copy(h, 0);
  src.copy(h, 6);
  h.writeUInt16BE(etherType, 12);
  return Buffer.concat([h, payload]);
}

export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export function ipv4Packet(src: string, dst: string, proto: number, l4: Buffer, opts: { fragOff?: number } = {}): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + l4.length, 2);
  h.writeUInt16BE(opts.fragOff ?? 0, 6);
  h[8] = 64;
  h[9] = proto;
  ipv4(src).copy(h, 12);
  ipv4(dst).copy(h, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  h.writeUInt16BE(~sum & 0xffff, 10);
  return Buffer.concat([h, l4]);
}

/** A whole Ethernet/IPv4/UDP frame. */
export function udp4Frame(src: string, dst: string, sport: number, dport: number, payload: Buffer = Buffer.alloc(32)): Buffer {
  return eth(MAC_B, MAC_A, 0x0800, ipv4Packet(src, dst, 17, udp(sport, dport, payload)));
}
