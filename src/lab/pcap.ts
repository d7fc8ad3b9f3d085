// Captures with tcpdump in a namespace, and reads a capture (pcap, Ethernet link type): its frames,
// the UDP datagrams among them (IPv4 and IPv6), and the QUIC connection IDs a server issued among those.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { claimChild } from './owner.js';

export interface Capture {
  /** Ends the capture (SIGINT) once tcpdump has written its last packets; resolves when it has exited. */
  stop(): Promise<void>;
}

/**
 * tcpdump on an interface of a namespace into `file` (whole packets unless `snaplen`), resolved once
 * it is listening. --immediate-mode: nothing waits in a ring block when it is stopped.
 */
export function startCapture(ns: string, iface: string, file: string, filter: string[], snaplen?: number): Promise<Capture> {
  const snap = snaplen ? ['-s', String(snaplen)] : [];
  const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-Z', 'root', '--immediate-mode', '-n', '-B', '8192', ...snap, '-i', iface, '-U', '-w', file, ...filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  claimChild(p);
  let err = '';
  const closed = new Promise<void>((r) => p.once('close', () => r()));
  return new Promise((resolve, reject) => {
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on'))
        resolve({
          stop: async () => {
            if (p.exitCode === null) p.kill('SIGINT');
            await closed;
          },
        });
    });
    p.once('close', (code) => reject(new Error(`tcpdump exited ${code}: ${err.trim()}`)));
  });
}

export interface Datagram {
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

/** The captured frames (each cut to the capture's snap length), in capture order. */
export function pcapFrames(file: string): Buffer[] {
  const b = readFileSync(file);
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && b.readUInt32BE(0) !== 0xa1b2c3d4 && b.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`${file}: not a pcap file`);
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`${file}: link type ${u32(20)}, expected Ethernet (1)`);
  const out: Buffer[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const caplen = u32(o + 8);
    out.push(b.subarray(o + 16, o + 16 + caplen));
    o += 16 + caplen;
  }
  return out;
}

export function udpDatagrams(file: string): Datagram[] {
  const out: Datagram[] = [];
  for (const f of pcapFrames(file)) {
    const type = f.readUInt16BE(12);
    let l4: Buffer;
    if (type === 0x0800 && f[14 + 9] === 17) l4 = f.subarray(14 + (f[14]! & 0x0f) * 4);
    else if (type === 0x86dd && f[14 + 6] === 17) l4 = f.subarray(14 + 40);
    else continue;
    out.push({ srcPort: l4.readUInt16BE(0), dstPort: l4.readUInt16BE(2), payload: l4.subarray(8, l4.readUInt16BE(4)) });
  }
  return out;
}

/**
 * The CIDs a QUIC server on `port` issued, as the datagrams show them: the SCIDs of its long-header
 * packets and the DCIDs (`cidLen` bytes) of the client's short-header ones. A capture may be cut
 * short (tcpdump -s): only headers are read.
 */
export function serverIssuedCids(d: Datagram[], port: number, cidLen: number): { serverScids: Buffer[]; clientDcids: Buffer[] } {
  // long header: first octet, version, DCID length + DCID, SCID length + SCID
  const serverScids = d
    .filter((x) => x.srcPort === port && x.payload.length >= 7 && x.payload[0]! & 0x80)
    .map((x) => {
      const dl = x.payload[5]!;
      return x.payload.subarray(7 + dl, 7 + dl + x.payload[6 + dl]!);
    });
  // short header (the fixed bit may be greased: RFC 9287): the DCID right after the first octet
  const clientDcids = d.filter((x) => x.dstPort === port && !(x.payload[0]! & 0x80) && x.payload.length > cidLen).map((x) => x.payload.subarray(1, 1 + cidLen));
  return { serverScids, clientDcids };
}
