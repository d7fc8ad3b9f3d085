// The data path's fixture table (Katran style): input frame -> verdict, output frame, reason, owner slot.
// Expected outputs are spelled out here, not computed by the reference decoder.
import { XdpAction } from '../../src/bpf/program.js';
import type { GquicFormName, ReasonName } from '../../src/bpf/layout.js';
import { QUIC_DRAFT_29, QUIC_V1, QUIC_V2 } from '../../src/quic/header.js';
import { encodeMsquic, encodeMvfst, msquicServerIdFixed, msquicServerIdIp } from '../../src/quic/vendor.js';
import { frame, longHeader, msquicCid, mvfstCid, quicLbCid, shortHeader, withMacs, MAC_SELF, type FrameSpec } from './frames.js';
import {
  CLIENT4, CLIENT6, MAC_EGRESS, MAC_PEER, MAC_RS2, MAC_RS3, MAC_RS4, PORT_MSQUIC, PORT_MVFST, PORT_NO_CID, PORT_QUIC_LB, VIP4, VIP6,
} from './world.js';

export interface Fixture {
  name: string;
  frame: Buffer;
  reason: ReasonName;
  action: number;
  /** Expected output frame; defaults to the input unchanged. */
  output?: Buffer;
  /** Owner counter slot that must count a steered frame. */
  slot?: number;
  /** The gQUIC form whose qs_gquic_stats counter (form, reason) must count it; absent: no gQUIC counter moves. */
  gquic?: GquicFormName;
}

const sid = (hex: string) => Buffer.from(hex, 'hex');
// the vendor encoders' random bytes, fixed: the same frames every run
const MSQUIC_RANDOM = Buffer.alloc(14, 0x5a);
const MVFST_RANDOM = Buffer.alloc(8, 0xa5);
// CIDs owned by: RS2 (0c0d), local (0a0b), down (0e0f), drain (1011), unknown (7777), redirect (2021), no egress (2223)
export const CID = {
  rs2: quicLbCid(0, sid('0c0d'), 6),
  local: quicLbCid(0, sid('0a0b'), 6),
  down: quicLbCid(0, sid('0e0f'), 6),
  drain: quicLbCid(0, sid('1011'), 6),
  unknown: quicLbCid(0, sid('7777'), 6),
  redirect: quicLbCid(0, sid('2021'), 6),
  noEgress: quicLbCid(0, sid('2223'), 6),
  cr1: quicLbCid(1, sid('0a0b0c'), 4),
  // config 2 (encrypted, LB_KEY): RS2's 0c0d and nonce 4e4e4e4e4e4e, as src/quic/quic-lb.ts encodes them (3 LB passes)
  encrypted: sid('488750e0cf3d1f59b8'),
};

/** A UDP/IPv4 frame from the client to VIP4:port. */
export function v4(payload: Buffer, port = PORT_QUIC_LB, extra: Partial<FrameSpec> = {}): Buffer {
  return frame({ ip: { v: 4, src: CLIENT4, dst: VIP4 }, udp: { sport: 50000, dport: port }, payload, ...extra });
}

export function v6(payload: Buffer, port = PORT_QUIC_LB, extra: Partial<FrameSpec> = {}): Buffer {
  return frame({ ip: { v: 6, src: CLIENT6, dst: VIP6 }, udp: { sport: 50000, dport: port }, payload, ...extra });
}

export const pass = (name: string, f: Buffer, reason: ReasonName): Fixture => ({ name, frame: f, reason, action: XdpAction.PASS });
/** Steered back out of the ingress interface: dst = owner, src = the frame's own dst (our MAC). */
export const tx = (name: string, f: Buffer, owner: Buffer, slot: number): Fixture => ({
  name, frame: f, reason: 'STEERED', action: XdpAction.TX, output: withMacs(f, owner, MAC_SELF), slot,
});

export function fixtures(): Fixture[] {
  const hs = (dcid: Buffer, version = QUIC_V1) => longHeader({ version, type: 'HANDSHAKE', dcid });
  const sh = (dcid: Buffer) => shortHeader(dcid);
  const list: Fixture[] = [
    // --- L2 ---
    pass('ARP is not IP', frame({ etherType: 0x0806, payload: Buffer.alloc(28) }), 'NOT_VIP'),
    pass('IPv4 TCP to the VIP', frame({ ip: { v: 4, src: CLIENT4, dst: VIP4, proto: 6 }, payload: Buffer.alloc(20) }), 'NOT_VIP'),
    tx('802.1Q tagged, short header to RS2', v4(sh(CID.rs2), PORT_QUIC_LB, { vlans: [0x8100] }), MAC_RS2, 1),
    tx('802.1ad + 802.1Q (QinQ), short header to RS2', v4(sh(CID.rs2), PORT_QUIC_LB, { vlans: [0x88a8, 0x8100] }), MAC_RS2, 1),
    pass('three VLAN tags: the third is not parsed', v4(sh(CID.rs2), PORT_QUIC_LB, { vlans: [0x88a8, 0x8100, 0x8100] }), 'NOT_VIP'),
    pass('VLAN tag cut short', frame({ vlans: [0x8100], etherType: 0x0800 }).subarray(0, 16), 'MALFORMED'),

    // --- IPv4 ---
    tx('IPv4, short header to RS2', v4(sh(CID.rs2)), MAC_RS2, 1),
    tx('IPv4 with options (IHL 7)', frame({ ip: { v: 4, src: CLIENT4, dst: VIP4, ihl: 7 }, udp: { sport: 1, dport: PORT_QUIC_LB }, payload: sh(CID.rs2) }), MAC_RS2, 1),
    tx('Ethernet padding after the datagram is ignored', v4(sh(CID.rs2), PORT_QUIC_LB, { trailer: Buffer.alloc(30) }), MAC_RS2, 1),
    pass('IPv4 IHL 4 is malformed', frame({ ip: { v: 4, src: CLIENT4, dst: VIP4, ihl: 4 }, udp: { sport: 1, dport: PORT_QUIC_LB }, payload: sh(CID.rs2) }), 'MALFORMED'),
    pass('IPv4 IHL 15 beyond the frame', v4(Buffer.alloc(0)).fill(0x4f, 14, 15).subarray(0, 14 + 40), 'MALFORMED'),
    pass('IPv4 first fragment (MF)', frame({ ip: { v: 4, src: CLIENT4, dst: VIP4, fragOff: 0x2000 }, udp: { sport: 1, dport: PORT_QUIC_LB }, payload: sh(CID.rs2) }), 'FRAGMENT'),
    pass('IPv4 later fragment (offset)', frame({ ip: { v: 4, src: CLIENT4, dst: VIP4, fragOff: 0x0010 }, payload: sh(CID.rs2) }), 'FRAGMENT'),
    pass('UDP to another port of the VIP address', v4(sh(CID.rs2), 80), 'NOT_VIP'),
    pass('UDP to another address', frame({ ip: { v: 4, src: CLIENT4, dst: '192.0.2.99' }, udp: { sport: 1, dport: PORT_QUIC_LB }, payload: sh(CID.rs2) }), 'NOT_VIP'),
    pass('UDP length below 8', v4(sh(CID.rs2), PORT_QUIC_LB, { udp: { sport: 1, dport: PORT_QUIC_LB, len: 7 } }), 'MALFORMED'),
    pass('UDP length beyond the frame', v4(sh(CID.rs2), PORT_QUIC_LB, { udp: { sport: 1, dport: PORT_QUIC_LB, len: 200 } }), 'MALFORMED'),

    // --- IPv6 ---
    tx('IPv6, short header to RS2', v6(sh(CID.rs2)), MAC_RS2, 1),
    tx('IPv6, v1 Handshake to RS2', v6(hs(CID.rs2)), MAC_RS2, 1),
    pass('IPv6 hop-by-hop options', frame({ ip: { v: 6, src: CLIENT6, dst: VIP6, proto: 0 }, payload: Buffer.alloc(40) }), 'IPV6_EXT'),
    pass('IPv6 routing header', frame({ ip: { v: 6, src: CLIENT6, dst: VIP6, proto: 43 }, payload: Buffer.alloc(40) }), 'IPV6_EXT'),
    pass('IPv6 destination options', frame({ ip: { v: 6, src: CLIENT6, dst: VIP6, proto: 60 }, payload: Buffer.alloc(40) }), 'IPV6_EXT'),
    pass('IPv6 fragment header', frame({ ip: { v: 6, src: CLIENT6, dst: VIP6, proto: 44 }, payload: Buffer.alloc(40) }), 'FRAGMENT'),
    pass('ICMPv6 is not UDP', frame({ ip: { v: 6, src: CLIENT6, dst: VIP6, proto: 58 }, payload: Buffer.alloc(8) }), 'NOT_VIP'),
    pass('IPv6 header cut short', v6(sh(CID.rs2)).subarray(0, 14 + 39), 'MALFORMED'),

    // --- QUIC headers ---
    pass('empty UDP payload', v4(Buffer.alloc(0)), 'NOT_QUIC'),
    pass('v1 Initial: the director decides', v4(longHeader({ version: QUIC_V1, type: 'INITIAL', dcid: CID.rs2 })), 'INITIAL'),
    pass('v1 0-RTT', v4(longHeader({ version: QUIC_V1, type: 'ZERO_RTT', dcid: CID.rs2 })), 'ZERO_RTT'),
    pass('v1 Retry', v4(longHeader({ version: QUIC_V1, type: 'RETRY', dcid: CID.rs2 })), 'RETRY'),
    tx('v1 Handshake to RS2', v4(hs(CID.rs2)), MAC_RS2, 1),
    pass('v2 Initial (type bits 1)', v4(longHeader({ version: QUIC_V2, typeBits: 1, dcid: CID.rs2 })), 'INITIAL'),
    pass('v2 0-RTT (type bits 2, a v1 Handshake\'s bits)', v4(longHeader({ version: QUIC_V2, typeBits: 2, dcid: CID.rs2 })), 'ZERO_RTT'),
    pass('v2 Retry (type bits 0)', v4(longHeader({ version: QUIC_V2, typeBits: 0, dcid: CID.rs2 })), 'RETRY'),
    tx('v2 Handshake (type bits 3) to RS2', v4(hs(CID.rs2, QUIC_V2)), MAC_RS2, 1),
    tx('draft-29 Handshake to RS2', v4(hs(CID.rs2, QUIC_DRAFT_29)), MAC_RS2, 1),
    pass('draft-29 Initial', v4(longHeader({ version: QUIC_DRAFT_29, type: 'INITIAL', dcid: CID.rs2 })), 'INITIAL'),
    pass('Version Negotiation', v4(longHeader({ version: 0, typeBits: 2, dcid: CID.rs2 })), 'VERSION_NEGOTIATION'),
    pass('unknown (greased) version', v4(longHeader({ version: 0x1a2a3a4a, typeBits: 2, dcid: CID.rs2 })), 'UNKNOWN_VERSION'),
    pass('long header cut inside the version', v4(hs(CID.rs2).subarray(0, 4)), 'MALFORMED'),
    pass('Handshake without its DCID length', v4(hs(CID.rs2).subarray(0, 5)), 'MALFORMED'),
    pass('Handshake DCID length 21', v4(longHeader({ version: QUIC_V1, type: 'HANDSHAKE', dcid: Buffer.alloc(21, 1) })), 'MALFORMED'),
    pass('Handshake DCID longer than the payload', v4(longHeader({ version: QUIC_V1, type: 'HANDSHAKE', dcid: CID.rs2 }).subarray(0, 6 + 8)), 'MALFORMED'),
    tx('short header with a greased fixed bit', v4(shortHeader(CID.rs2, { fixedBit: false })), MAC_RS2, 1),
    tx('long header with a greased fixed bit', v4(longHeader({ version: QUIC_V1, type: 'HANDSHAKE', dcid: CID.rs2, fixedBit: false })), MAC_RS2, 1),
    pass('short header shorter than its CID', v4(Buffer.concat([Buffer.from([0x41]), CID.rs2.subarray(0, 8)])), 'MALFORMED'),

    // --- QUIC-LB ---
    tx('QUIC-LB config 1 (3-byte server ID)', v4(sh(CID.cr1)), MAC_RS3, 4),
    pass('QUIC-LB config 7: unroutable', v4(sh(Buffer.from([0xe8, 1, 2, 3, 4, 5, 6, 7, 8]))), 'UNROUTABLE_CID'),
    tx('QUIC-LB encrypted config 2 (Feistel, 3 AES passes)', v4(sh(CID.encrypted)), MAC_RS2, 1),
    tx('QUIC-LB encrypted config 2, Handshake', v4(hs(CID.encrypted)), MAC_RS2, 1),
    // controls: the octets read in clear (config 0) name 8750, and 0c0d in clear under config 2 decrypts to 07d5
    pass('QUIC-LB encrypted octets read as plaintext: no such server', v4(sh(Buffer.concat([Buffer.from([0x08]), CID.encrypted.subarray(1)]))), 'UNKNOWN_SERVER'),
    pass('QUIC-LB plaintext ID under the encrypted config: decrypts to no server', v4(sh(quicLbCid(2, sid('0c0d'), 6))), 'UNKNOWN_SERVER'),
    pass('QUIC-LB disabled config', v4(sh(quicLbCid(3, sid('0c0d'), 6))), 'UNROUTABLE_CID'),
    pass('QUIC-LB config absent (4)', v4(sh(quicLbCid(4, sid('0c0d'), 6))), 'UNROUTABLE_CID'),
    pass('QUIC-LB encrypted config of 4 octets (below 5): unroutable', v4(sh(quicLbCid(5, sid('0c0d'), 2))), 'UNROUTABLE_CID'),
    pass('QUIC-LB encrypted config of 20 octets (above 19): unroutable', v4(sh(quicLbCid(6, sid('0c0d0e0f101112131415161718191a'), 5))), 'UNROUTABLE_CID'),
    pass('QUIC-LB Handshake DCID shorter than its config', v4(hs(CID.rs2.subarray(0, 5))), 'UNROUTABLE_CID'),
    pass('QUIC-LB Handshake with an empty DCID', v4(hs(Buffer.alloc(0))), 'UNROUTABLE_CID'),

    // --- MsQuic (EMQX): 14-byte CIDs, server ID in bytes 1..4 (its IPv4 address, or a fixed uint32) ---
    tx('MsQuic short header to 192.0.2.2', v4(sh(msquicCid(sid('c0000202'))), PORT_MSQUIC), MAC_RS2, 5),
    tx('MsQuic Handshake to 192.0.2.2', v4(hs(msquicCid(sid('c0000202'))), PORT_MSQUIC), MAC_RS2, 5),
    pass('MsQuic Handshake DCID too short for bytes 1..4', v4(hs(sid('3cc00002')), PORT_MSQUIC), 'UNROUTABLE_CID'),
    pass('MsQuic short header shorter than 14 bytes of CID', v4(Buffer.concat([Buffer.from([0x41]), msquicCid(sid('c0000202')).subarray(0, 13)]), PORT_MSQUIC), 'MALFORMED'),
    tx('MsQuic short header of exactly flags + 14-byte CID', v4(Buffer.concat([Buffer.from([0x41]), msquicCid(sid('c0000202'))]), PORT_MSQUIC), MAC_RS2, 5),
    // the vendor encoders (src/quic/vendor.ts) through the program: the owner is spelled out here
    tx('MsQuic SERVER_ID_IP 192.0.2.2 (encoder), short header', v4(sh(encodeMsquic(msquicServerIdIp('192.0.2.2'), { partition: 3, random: MSQUIC_RANDOM })), PORT_MSQUIC), MAC_RS2, 5),
    tx('MsQuic SERVER_ID_IP 2001:db8::c000:202 (encoder), Handshake', v4(hs(encodeMsquic(msquicServerIdIp('2001:db8::c000:202'), { random: MSQUIC_RANDOM })), PORT_MSQUIC), MAC_RS2, 5),
    tx('MsQuic SERVER_ID_FIXED 0x020200c0, on the wire c0000202 (encoder), short header', v4(sh(encodeMsquic(msquicServerIdFixed(0x020200c0), { random: MSQUIC_RANDOM })), PORT_MSQUIC), MAC_RS2, 5),
    // control: the same uint32 put on the wire big-endian (020200c0) is nobody's
    pass('MsQuic SERVER_ID_FIXED byte-swapped: no such server', v4(sh(encodeMsquic(sid('020200c0'), { random: MSQUIC_RANDOM })), PORT_MSQUIC), 'UNKNOWN_SERVER'),

    // --- mvfst ---
    tx('mvfst v1 (16-bit host id in bits 2..17)', v4(sh(mvfstCid(1, 0x1234)), PORT_MVFST), MAC_RS3, 6),
    tx('mvfst v2 (24-bit host id)', v4(sh(mvfstCid(2, 0x123456)), PORT_MVFST), MAC_RS3, 7),
    tx('mvfst v3 (32-bit host id)', v4(sh(mvfstCid(3, 0x12345678)), PORT_MVFST), MAC_RS3, 8),
    pass('mvfst v0 carries no server ID', v4(sh(mvfstCid(0, 0)), PORT_MVFST), 'UNROUTABLE_CID'),
    pass('mvfst v3 Handshake DCID of 4 bytes', v4(hs(mvfstCid(3, 0x12345678).subarray(0, 4)), PORT_MVFST), 'UNROUTABLE_CID'),
    // mvfst's shortest CIDs (v1 4 bytes, v2 6, v3 7) are steered; one byte shorter is none of mvfst's
    tx('mvfst v1 Handshake, 4-byte DCID (the shortest)', v4(hs(mvfstCid(1, 0x1234, 4)), PORT_MVFST), MAC_RS3, 6),
    pass('mvfst v1 Handshake, 3-byte DCID', v4(hs(mvfstCid(1, 0x1234, 3)), PORT_MVFST), 'UNROUTABLE_CID'),
    tx('mvfst v2 Handshake, 6-byte DCID (the shortest)', v4(hs(mvfstCid(2, 0x123456, 6)), PORT_MVFST), MAC_RS3, 7),
    pass('mvfst v2 Handshake, 5-byte DCID', v4(hs(mvfstCid(2, 0x123456, 5)), PORT_MVFST), 'UNROUTABLE_CID'),
    tx('mvfst v3 Handshake, 7-byte DCID (the shortest)', v4(hs(mvfstCid(3, 0x12345678, 7)), PORT_MVFST), MAC_RS3, 8),
    pass('mvfst v3 Handshake, 6-byte DCID', v4(hs(mvfstCid(3, 0x12345678, 6)), PORT_MVFST), 'UNROUTABLE_CID'),
    // the vendor encoder through the program
    tx('mvfst v1 host 0x1234 (encoder), short header', v4(sh(encodeMvfst(1, 0x1234, MVFST_RANDOM)), PORT_MVFST), MAC_RS3, 6),
    tx('mvfst v2 host 0x123456 (encoder), short header', v4(sh(encodeMvfst(2, 0x123456, MVFST_RANDOM)), PORT_MVFST), MAC_RS3, 7),
    tx('mvfst v3 host 0x12345678 (encoder), Handshake', v4(hs(encodeMvfst(3, 0x12345678, MVFST_RANDOM)), PORT_MVFST), MAC_RS3, 8),

    // --- a VIP without a CID layout ---
    pass('VIP with no CID layout', v4(sh(CID.rs2), PORT_NO_CID), 'UNROUTABLE_CID'),

    // --- steering decisions ---
    pass('own server ID: delivered locally', v4(sh(CID.local)), 'LOCAL'),
    pass('own server ID from a peer: still local', v4(sh(CID.local), PORT_QUIC_LB, { src: MAC_PEER }), 'LOCAL'),
    pass('unknown server ID', v4(sh(CID.unknown)), 'UNKNOWN_SERVER'),
    pass('owner down', v4(sh(CID.down)), 'PEER_DOWN'),
    pass('owner draining', v4(sh(CID.drain)), 'PEER_DRAIN'),
    pass('loop guard: a peer already steered it', v4(sh(CID.rs2), PORT_QUIC_LB, { src: MAC_PEER }), 'LOOP_GUARD'),
    pass('loop guard on IPv6 Handshake', v6(hs(CID.rs2), PORT_QUIC_LB, { src: MAC_PEER }), 'LOOP_GUARD'),
    {
      name: 'owner behind another interface: devmap redirect with its MAC',
      frame: v4(sh(CID.redirect)),
      reason: 'STEERED',
      action: XdpAction.REDIRECT,
      output: withMacs(v4(sh(CID.redirect)), MAC_RS4, MAC_EGRESS),
      slot: 9,
    },
    pass('owner behind an interface missing from the devmap', v4(sh(CID.noEgress)), 'NO_EGRESS'),
  ];

  // Every byte boundary of the headers: frames cut anywhere after Ethernet (the kernel refuses
  // shorter ones) are malformed, never misread.
  for (const [label, full] of [
    ['IPv4 short header', v4(sh(CID.rs2))],
    ['IPv6 Handshake', v6(hs(CID.rs2))],
    ['QinQ IPv4 Handshake', v4(hs(CID.rs2), PORT_QUIC_LB, { vlans: [0x88a8, 0x8100] })],
  ] as const) {
    for (let n = 14; n < full.length; n++) list.push(pass(`${label} cut at byte ${n}`, full.subarray(0, n), 'MALFORMED'));
  }
  // QUIC payloads cut at every byte with a consistent UDP length: the DCID checks, not the UDP check, catch them.
  const hsFull = hs(CID.rs2);
  for (let n = 1; n < 6 + CID.rs2.length; n++) list.push(pass(`Handshake payload of ${n} bytes`, v4(hsFull.subarray(0, n)), 'MALFORMED'));
  const shFull = sh(CID.rs2);
  for (let n = 1; n < 1 + CID.rs2.length; n++) list.push(pass(`short-header payload of ${n} bytes`, v4(shFull.subarray(0, n)), 'MALFORMED'));
  list.push(tx('short-header payload of exactly flags + CID', v4(shFull.subarray(0, 1 + CID.rs2.length)), MAC_RS2, 1));
  list.push(tx('Handshake payload of exactly the header through the DCID', v4(hsFull.subarray(0, 6 + CID.rs2.length)), MAC_RS2, 1));
  return list;
}
