// Reads UDP datagrams out of a tcpdump capture (pcap, Ethernet link type; IPv4 and IPv6).
import { readFileSync } from 'node:fs';

export interface Datagram {
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export function udpDatagrams(file: string): Datagram[] {
  const b = readFileSync(file);
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && b.readUInt32BE(0) !== 0xa1b2c3d4 && b.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`${file}: not a pcap file`);
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`${file}: link type ${u32(20)}, expected Ethernet (1)`);
  const out: Datagram[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const caplen = u32(o + 8);
    const f = b.subarray(o + 16, o + 16 + caplen);
    o += 16 + caplen;
    const type = f.readUInt16BE(12);
    let l4: Buffer;
    if (type === 0x0800 && f[14 + 9] === 17) l4 = f.subarray(14 + (f[14]! & 0x0f) * 4);
    else if (type === 0x86dd && f[14 + 6] === 17) l4 = f.subarray(14 + 40);
    else continue;
    out.push({ srcPort: l4.readUInt16BE(0), dstPort: l4.readUInt16BE(2), payload: l4.subarray(8, l4.readUInt16BE(4)) });
  }
  return out;
}
