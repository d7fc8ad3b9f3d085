// gQUIC fixtures (issue 17): Q043, Q046, Q050 and short headers on the fixture world's gQUIC VIPs, the
// ambiguous first octets, and the same frames on a VIP without gQUIC. Expected verdicts, output frames,
// owners and gQUIC counters are spelled out here, not computed by the reference decoder.
import { XdpAction } from '../../src/bpf/program.js';
import { GquicVersion, type GquicFormName, type ReasonName } from '../../src/bpf/layout.js';
import { QUIC_V1, QUIC_V2 } from '../../src/quic/header.js';
import { gquicLong, gquicShort, longHeader, msquicCid, mvfstCid, q043Header, quicLbCid, withMacs } from './frames.js';
import { CID, pass, tx, v4, v6, type Fixture } from './fixtures.js';
import {
  MAC_EGRESS, MAC_PEER, MAC_RS2, MAC_RS3, MAC_RS4, PORT_GQUIC, PORT_GQUIC_LB, PORT_GQUIC_MSQUIC, PORT_GQUIC_MVFST,
} from './world.js';

const hex = (h: string) => Buffer.from(h, 'hex');

/**
 * 8-byte client CIDs and their owners in the fixture world's Maglev table (its 14 up servers),
 * computed from the design's text by an independent script (Python: SHA-256 permutations, the
 * population loop, qs_hash % 65537), not by src/datapath/maglev.ts. Octet 0xf0 reads as no server on
 * every gQUIC VIP's IETF layout (QUIC-LB codepoint 7; MsQuic and mvfst v3: c1d00000, nobody's).
 */
export const GCID = {
  local: hex('f0c1d00000000012'), // 0a0b: this server
  rs2: hex('f0c1d00000000011'), // 0c0d: RS2, counter slot 1
  rs3: hex('f0c1d00000000004'), // 1234: RS3, slot 6
  redirect: hex('f0c1d00000000007'), // 2021: behind veth0, slot 9
  noEgress: hex('f0c1d0000000000d'), // 2223: behind veth1, missing from the devmap
};
// Owners (same script) of 8-byte CIDs that also carry server IDs, where they are hashed:
// 070c0d4e4e4e4e4e and 080c0d4e4e4e4e4e (CID.rs2's first 8) -> e4e5e6e7e8e9eaebeced (RS3, slot 14);
// 0877774e4e4e4e4e (CID.unknown's first 8) -> e5e6e7e8e9eaebecedeeeff0f1f2f3 (RS2, slot 15);
// 3cc0000202000177 (the MsQuic CID's first 8) -> e1 (RS2, slot 11); 3333333333333333 -> 12345678 (RS3, slot 8).
const LB_0C0D_8 = quicLbCid(0, hex('0c0d'), 5); // 070c0d4e4e4e4e4e: QUIC-LB config 0 reads 0c0d
const MSQUIC_8 = msquicCid(hex('c0000202')).subarray(0, 8);

const counted = (form: GquicFormName, f: Fixture): Fixture => ({ ...f, gquic: form });
const redirect = (name: string, f: Buffer): Fixture => ({
  name, frame: f, reason: 'STEERED', action: XdpAction.REDIRECT, output: withMacs(f, MAC_RS4, MAC_EGRESS), slot: 9,
});
const q043 = (cid: Buffer, o: Omit<Parameters<typeof q043Header>[0], 'cid'> = {}) => q043Header({ cid, ...o });
const q046 = (dcid: Buffer, o: Omit<Parameters<typeof gquicLong>[0], 'version' | 'dcid'> = {}) => gquicLong({ version: 'Q046', dcid, type: 'HANDSHAKE', ...o });
const q050 = (dcid: Buffer, o: Omit<Parameters<typeof gquicLong>[0], 'version' | 'dcid'> = {}) => gquicLong({ version: 'Q050', dcid, type: 'HANDSHAKE', ...o });
const g = (payload: Buffer) => v4(payload, PORT_GQUIC);
const lb = (payload: Buffer) => v4(payload, PORT_GQUIC_LB);

export function gquicFixtures(): Fixture[] {
  const list: Fixture[] = [];
  const add = (...fs: Fixture[]) => list.push(...fs);

  // --- Q043 public header (gQUIC-only VIP: every CID hashed) ---
  for (const pnLen of [1, 2, 4, 6] as const) {
    add(counted('Q043', tx(`Q043 without version, ${pnLen}-byte packet number: hashed to RS2`, g(q043(GCID.rs2, { pnLen })), MAC_RS2, 1)));
    add(counted('Q043', tx(`Q043 with version Q043, ${pnLen}-byte packet number: hashed to RS2`, g(q043(GCID.rs2, { pnLen, version: GquicVersion.Q043 })), MAC_RS2, 1)));
  }
  add(
    counted('Q043', tx('Q043 with the nonce flag (ignored)', g(q043(GCID.rs2, { nonce: true })), MAC_RS2, 1)),
    counted('Q043', tx('Q043 with the nonce and version flags', g(q043(GCID.rs2, { nonce: true, version: GquicVersion.Q043 })), MAC_RS2, 1)),
    counted('Q043', tx('Q043 public reset (no packet number): hashed to RS2', g(q043(GCID.rs2, { reset: true })), MAC_RS2, 1)),
    counted('Q043', pass('Q043 reset flag with the version flag: refused', g(q043(GCID.rs2, { reset: true, version: GquicVersion.Q043 })), 'MALFORMED')),
    counted('Q043', pass('Q043 header carrying version Q046', g(q043(GCID.rs2, { version: GquicVersion.Q046 })), 'UNKNOWN_VERSION')),
    counted('Q043', pass('Q043 header carrying version Q050', g(q043(GCID.rs2, { version: GquicVersion.Q050 })), 'UNKNOWN_VERSION')),
    counted('Q043', pass('Q043 header carrying version 0', g(q043(GCID.rs2, { version: 0 })), 'UNKNOWN_VERSION')),
    // no CID flag: not a Q043 header on a gQUIC VIP but a short header, its bytes 1..8 hashed
    counted('SHORT', tx('CID flag clear: read as a short header (bytes 1..8 hashed)', g(q043(Buffer.alloc(0), { cidFlag: false, reset: true, rest: Buffer.concat([GCID.rs2, Buffer.alloc(16, 0xcc)]) })), MAC_RS2, 1)),
    counted('SHORT', tx('Q043 flags with the fixed bit 0x40: a short header', g(q043(GCID.rs2, { extraFlags: 0x40 })), MAC_RS2, 1)),
    counted('Q043', pass('Q043 hashed to this server', g(q043(GCID.local)), 'LOCAL')),
    counted('Q043', tx('Q043 hashed to RS3', g(q043(GCID.rs3)), MAC_RS3, 6)),
    counted('Q043', redirect('Q043 hashed to the owner behind veth0', g(q043(GCID.redirect)))),
    counted('Q043', pass('Q043 hashed to the owner missing from the devmap', g(q043(GCID.noEgress)), 'NO_EGRESS')),
    counted('Q043', pass('Q043 hashed to RS2, from a peer: loop guard', v4(q043(GCID.rs2), PORT_GQUIC, { src: MAC_PEER }), 'LOOP_GUARD')),
    counted('Q043', tx('Q043 over IPv6 (QUIC-LB + gQUIC VIP)', v6(q043(GCID.rs2), PORT_GQUIC_LB), MAC_RS2, 1)),
    counted('Q043', tx('Q043 behind QinQ', v4(q043(GCID.rs2), PORT_GQUIC, { vlans: [0x88a8, 0x8100] }), MAC_RS2, 1)),
  );
  // the same client CID has one owner on every gQUIC VIP, whatever its IETF layout
  for (const [label, port] of [['QUIC-LB', PORT_GQUIC_LB], ['MsQuic', PORT_GQUIC_MSQUIC], ['mvfst', PORT_GQUIC_MVFST]] as const)
    add(counted('Q043', tx(`Q043 on the ${label} + gQUIC VIP: the same owner (RS2)`, v4(q043(GCID.rs2), port), MAC_RS2, 1)));

  // --- the IETF reading first: a CID whose bytes name a known server goes to it, uncounted ---
  add(
    tx('Q043 whose CID reads as QUIC-LB 0c0d: RS2 by server ID', lb(q043(LB_0C0D_8)), MAC_RS2, 1),
    counted('Q043', tx('the same Q043 on the gQUIC-only VIP: hashed (RS3)', g(q043(LB_0C0D_8)), MAC_RS3, 14)),
    pass('Q043 whose CID reads as QUIC-LB 0a0b: local by server ID', lb(q043(quicLbCid(0, hex('0a0b'), 5))), 'LOCAL'),
    pass('Q043 whose CID reads as a down server', lb(q043(quicLbCid(0, hex('0e0f'), 5))), 'PEER_DOWN'),
    pass('Q043 whose CID reads as a draining server', lb(q043(quicLbCid(0, hex('1011'), 5))), 'PEER_DRAIN'),
    tx('Q043 whose CID reads as MsQuic c0000202', v4(q043(MSQUIC_8), PORT_GQUIC_MSQUIC), MAC_RS2, 5),
    // MsQuic's layout needs 14 bytes of room after the flags: a 10-byte Q043 packet has 9, so it is hashed (e1)
    counted('Q043', tx('Q043 of 10 bytes on the MsQuic + gQUIC VIP: too short for the layout, hashed', v4(q043(MSQUIC_8, { pnLen: 1, rest: Buffer.alloc(0) }), PORT_GQUIC_MSQUIC), MAC_RS2, 11)),
    tx('Q043 whose CID reads as mvfst v3 12345678', v4(q043(mvfstCid(3, 0x12345678)), PORT_GQUIC_MVFST), MAC_RS3, 8),
    counted('Q043', tx('Q043 whose CID is mvfst v0 (no server ID): hashed', v4(q043(mvfstCid(0, 0)), PORT_GQUIC_MVFST), MAC_RS3, 8)),
  );

  // --- Q046 long header ---
  for (const type of ['INITIAL', 'ZERO_RTT', 'HANDSHAKE'] as const)
    add(counted('Q046', tx(`Q046 ${type}, 8-byte DCID: hashed to RS2`, g(q046(GCID.rs2, { type })), MAC_RS2, 1)));
  add(
    counted('Q046', pass('Q046 Retry', g(q046(GCID.rs2, { type: 'RETRY' })), 'RETRY')),
    counted('Q046', tx('Q046 with an 8-byte SCID', g(q046(GCID.rs2, { scid: Buffer.alloc(8, 0x5c) })), MAC_RS2, 1)),
    counted('Q046', tx('Q046 with an 18-byte SCID', g(q046(GCID.rs2, { scid: Buffer.alloc(18, 0x5c) })), MAC_RS2, 1)),
    counted('Q046', tx('Q046 with the fixed bit clear (not checked)', g(q046(GCID.rs2, { fixedBit: false })), MAC_RS2, 1)),
    counted('Q046', tx('Q046 with a 1-byte packet number', g(q046(GCID.rs2, { pnLen: 1 })), MAC_RS2, 1)),
    counted('Q046', pass('Q046 DCIL 0 (no DCID)', g(q046(Buffer.alloc(0), { scid: GCID.rs2 })), 'UNROUTABLE_CID')),
    counted('Q046', pass('Q046 DCIL 1 (4-byte DCID)', g(q046(GCID.rs2.subarray(0, 4))), 'UNROUTABLE_CID')),
    counted('Q046', pass('Q046 DCIL 6 (9-byte DCID)', g(q046(Buffer.concat([GCID.rs2, hex('00')]))), 'UNROUTABLE_CID')),
    counted('Q046', pass('Q046 DCIL 15 (18-byte DCID)', g(q046(Buffer.alloc(18, 0xf1))), 'UNROUTABLE_CID')),
    counted('Q046', pass('Q046 DCIL 15 with 9 bytes after the nibbles', g(q046(GCID.rs2, { cil: 0xf0, pnLen: 1, rest: Buffer.alloc(0) })), 'MALFORMED')),
    counted('Q046', pass('Q046 hashed to this server', g(q046(GCID.local)), 'LOCAL')),
    counted('Q046', redirect('Q046 hashed to the owner behind veth0', g(q046(GCID.redirect)))),
    counted('Q046', pass('Q046 hashed to RS2, from a peer: loop guard', v4(q046(GCID.rs2), PORT_GQUIC, { src: MAC_PEER }), 'LOOP_GUARD')),
    counted('Q046', tx('Q046 whose DCID reads as QUIC-LB 0c0d: RS2 by server ID, still counted', lb(q046(LB_0C0D_8)), MAC_RS2, 1)),
    counted('Q046', tx('Q046 with an 18-byte DCID reading as QUIC-LB 0c0d', lb(q046(quicLbCid(0, hex('0c0d'), 15))), MAC_RS2, 1)),
    counted('Q046', pass('Q046 whose DCID names a down server', lb(q046(quicLbCid(0, hex('0e0f'), 5))), 'PEER_DOWN')),
    counted('Q046', pass('Q046 with an 18-byte DCID of no known server', lb(q046(quicLbCid(0, hex('7777'), 15))), 'UNROUTABLE_CID')),
    counted('Q046', tx('Q046 whose DCID reads as mvfst v3 12345678', v4(q046(mvfstCid(3, 0x12345678)), PORT_GQUIC_MVFST), MAC_RS3, 8)),
    pass('Q046 on a VIP without gQUIC: an unknown version, as before', v4(q046(GCID.rs2)), 'UNKNOWN_VERSION'),
  );

  // --- Q050 long header (length-prefixed CIDs) ---
  for (const type of ['INITIAL', 'ZERO_RTT', 'HANDSHAKE'] as const)
    add(counted('Q050', tx(`Q050 ${type}, 8-byte DCID: hashed to RS2`, g(q050(GCID.rs2, { type })), MAC_RS2, 1)));
  add(
    counted('Q050', pass('Q050 Retry', g(q050(GCID.rs2, { type: 'RETRY' })), 'RETRY')),
    counted('Q050', tx('Q050 with an 8-byte SCID', g(q050(GCID.rs2, { scid: Buffer.alloc(8, 0x5c) })), MAC_RS2, 1)),
    counted('Q050', pass('Q050 DCID length 0', g(q050(Buffer.alloc(0), { scid: GCID.rs2 })), 'UNROUTABLE_CID')),
    counted('Q050', pass('Q050 DCID length 18', g(q050(Buffer.alloc(18, 0xf1))), 'UNROUTABLE_CID')),
    counted('Q050', pass('Q050 DCID length 20', g(q050(Buffer.alloc(20, 0xf1))), 'UNROUTABLE_CID')),
    counted('Q050', pass('Q050 DCID length 21', g(q050(Buffer.alloc(21, 0xf1))), 'MALFORMED')),
    counted('Q050', pass('Q050 DCID length 9 with 8 bytes left', g(q050(GCID.rs2, { dcidLen: 9, rest: Buffer.alloc(0), scid: Buffer.alloc(0) }).subarray(0, 14)), 'MALFORMED')),
    counted('Q050', pass('Q050 hashed to the owner missing from the devmap', g(q050(GCID.noEgress)), 'NO_EGRESS')),
    counted('Q050', tx('Q050 hashed to RS3', g(q050(GCID.rs3)), MAC_RS3, 6)),
    // the server-chosen CID of a Q050 connection carries the server's ID: steered by it
    counted('Q050', tx('Q050 with a server-chosen 18-byte CID naming RS2', lb(q050(quicLbCid(0, hex('0c0d'), 15))), MAC_RS2, 1)),
    counted('Q050', tx('Q050 with a server-chosen 8-byte CID naming RS2 (not hashed)', lb(q050(LB_0C0D_8)), MAC_RS2, 1)),
    counted('Q050', pass('Q050 with an 18-byte CID of no known server', lb(q050(quicLbCid(0, hex('7777'), 15))), 'UNROUTABLE_CID')),
    counted('Q050', pass('Q050 with a CID naming a draining server', lb(q050(quicLbCid(0, hex('1011'), 5))), 'PEER_DRAIN')),
    counted('Q050', tx('Q050 whose DCID reads as MsQuic c0000202', v4(q050(MSQUIC_8), PORT_GQUIC_MSQUIC), MAC_RS2, 5)),
    pass('Q050 on a VIP without gQUIC: an unknown version, as before', v4(q050(GCID.rs2)), 'UNKNOWN_VERSION'),
  );

  // --- short headers (Q046/Q050 1-RTT, or IETF) ---
  add(
    counted('SHORT', tx('short header (fixed bit, 0x08 clear): hashed to RS2', g(gquicShort(GCID.rs2)), MAC_RS2, 1)),
    counted('SHORT', tx('short header with the fixed bit and 0x08 set', g(gquicShort(GCID.rs2, { bit08: true })), MAC_RS2, 1)),
    counted('SHORT', tx('short header, fixed bit and 0x08 clear', g(gquicShort(GCID.rs2, { fixedBit: false })), MAC_RS2, 1)),
    counted('Q043', tx('fixed bit clear, 0x08 set, packet-number bits 0: a Q043 header (same owner)', g(gquicShort(GCID.rs2, { fixedBit: false, bit08: true, pnLen: 1 })), MAC_RS2, 1)),
    counted('SHORT', pass('short header hashed to this server, from a peer: local', v4(gquicShort(GCID.local), PORT_GQUIC, { src: MAC_PEER }), 'LOCAL')),
    counted('SHORT', tx('short header hashed to RS3', g(gquicShort(GCID.rs3)), MAC_RS3, 6)),
    tx('IETF short header naming RS2 on the QUIC-LB + gQUIC VIP: by server ID, uncounted', lb(gquicShort(CID.rs2)), MAC_RS2, 1),
    counted('SHORT', tx('IETF short header of an unknown server on a gQUIC VIP: hashed', lb(gquicShort(CID.unknown)), MAC_RS2, 15)),
    pass('the same on the VIP without gQUIC: no such server, as before', v4(gquicShort(CID.unknown)), 'UNKNOWN_SERVER'),
    tx('mvfst v1 short header on the mvfst + gQUIC VIP', v4(gquicShort(mvfstCid(1, 0x1234)), PORT_GQUIC_MVFST), MAC_RS3, 6),
    pass('short header of 8 bytes on the mvfst + gQUIC VIP: shorter than the layout', v4(gquicShort(GCID.rs2).subarray(0, 8), PORT_GQUIC_MVFST), 'MALFORMED'),
  );

  // --- the ambiguous first octets: a greased IETF short header (fixed bit 0) with 0x08 set reads as Q043 ---
  add(
    tx('greased IETF short header, 0x08 set, naming RS2: its owner', lb(gquicShort(CID.rs2, { first: 0x08 })), MAC_RS2, 1),
    pass('greased IETF short header, 0x08 set, naming this server', lb(gquicShort(CID.local, { first: 0x08 })), 'LOCAL'),
    counted('Q043', tx('greased IETF short header, 0x08 set, of an unknown server: hashed', lb(gquicShort(CID.unknown, { first: 0x08 })), MAC_RS2, 15)),
    counted('Q043', tx('greased IETF short header naming RS2 on the gQUIC-only VIP: hashed', g(gquicShort(CID.rs2, { first: 0x08 })), MAC_RS3, 14)),
    // 0x01 is the Q043 version flag: bytes 9..12 are read as a version (a documented limit)
    // the Q043 header checks come after the IETF reading: a known ID wins over the bits Q043 would refuse
    tx('greased IETF short header, 0x09 (a Q043 version field, not Q043), naming RS2: its owner', lb(gquicShort(CID.rs2, { first: 0x09 })), MAC_RS2, 1),
    tx('greased IETF short header, 0x0b (Q043 reset and version flags), naming RS2: its owner', lb(gquicShort(CID.rs2, { first: 0x0b })), MAC_RS2, 1),
    counted('Q043', pass('greased IETF short header, 0x09, of an unknown server: the Q043 version check', lb(gquicShort(CID.unknown, { first: 0x09 })), 'UNKNOWN_VERSION')),
    counted('Q043', pass('greased IETF short header, 0x0b, of an unknown server: the Q043 reset check', lb(gquicShort(CID.unknown, { first: 0x0b })), 'MALFORMED')),
    // controls: the same frames on the VIP without gQUIC, as before
    tx('greased 0x08 naming RS2 on the VIP without gQUIC', v4(gquicShort(CID.rs2, { first: 0x08 })), MAC_RS2, 1),
    tx('greased 0x09 naming RS2 on the VIP without gQUIC', v4(gquicShort(CID.rs2, { first: 0x09 })), MAC_RS2, 1),
    pass('greased 0x08 of an unknown server on the VIP without gQUIC', v4(gquicShort(CID.unknown, { first: 0x08 })), 'UNKNOWN_SERVER'),
    pass('Q043 on the VIP without gQUIC: a short header of QUIC-LB codepoint 7', v4(q043(GCID.rs2)), 'UNROUTABLE_CID'),
  );

  // --- IETF long headers on gQUIC VIPs: exactly as before (the layout below the gQUIC flag) ---
  add(
    tx('v1 Handshake naming RS2 on the QUIC-LB + gQUIC VIP', lb(longHeader({ version: QUIC_V1, dcid: CID.rs2 })), MAC_RS2, 1),
    pass('v1 Initial on a gQUIC VIP', lb(longHeader({ version: QUIC_V1, type: 'INITIAL', dcid: GCID.rs2 })), 'INITIAL'),
    pass('Version Negotiation on a gQUIC VIP', g(longHeader({ version: 0, dcid: GCID.rs2 })), 'VERSION_NEGOTIATION'),
    pass('greased version on a gQUIC VIP', g(longHeader({ version: 0x1a2a3a4a, dcid: GCID.rs2 })), 'UNKNOWN_VERSION'),
    pass('v1 Handshake on the gQUIC-only VIP: no layout', g(longHeader({ version: QUIC_V1, dcid: GCID.rs2 })), 'UNROUTABLE_CID'),
    tx('v1 Handshake on the MsQuic + gQUIC VIP', v4(longHeader({ version: QUIC_V1, dcid: msquicCid(hex('c0000202')) }), PORT_GQUIC_MSQUIC), MAC_RS2, 5),
    tx('v2 Handshake on the mvfst + gQUIC VIP', v4(longHeader({ version: QUIC_V2, dcid: mvfstCid(3, 0x12345678) }), PORT_GQUIC_MVFST), MAC_RS3, 8),
    pass('empty payload on a gQUIC VIP', g(Buffer.alloc(0)), 'NOT_QUIC'),
  );

  // --- every byte boundary of each header (payload cut, UDP length consistent) ---
  type Make = (name: string, f: Buffer) => Fixture;
  const cuts = (label: string, full: Buffer, port: number, at: (n: number) => Make | undefined) => {
    for (let n = 1; n <= full.length; n++) {
      const make = at(n);
      if (make) add(make(`${label} payload of ${n} bytes`, v4(full.subarray(0, n), port)));
    }
  };
  const toRs2 = (form: GquicFormName): Make => (name, f) => counted(form, tx(name, f, MAC_RS2, 1));
  const stop = (reason: ReasonName, form?: GquicFormName): Make => (name, f) => (form ? counted(form, pass(name, f, reason)) : pass(name, f, reason));
  const none = Buffer.alloc(0);
  // Q043 with version and a 6-byte packet number: 19 bytes; a reset: 9
  cuts('Q043 with version, pn 6:', q043(GCID.rs2, { version: GquicVersion.Q043, pnLen: 6, rest: none }), PORT_GQUIC, (n) => (n < 19 ? stop('MALFORMED', 'Q043') : toRs2('Q043')));
  cuts('Q043 reset:', q043(GCID.rs2, { reset: true, rest: none }), PORT_GQUIC, (n) => (n < 9 ? stop('MALFORMED', 'Q043') : toRs2('Q043')));
  // long headers: no form below 5 bytes (the version unread), the DCID whole at 14
  for (const [form, full] of [['Q046', q046(GCID.rs2, { rest: none })], ['Q050', q050(GCID.rs2, { rest: none })]] as const)
    cuts(`${form} Handshake:`, full, PORT_GQUIC, (n) => (n < 5 ? stop('MALFORMED') : n < 14 ? stop('MALFORMED', form) : n === 14 ? toRs2(form) : undefined));
  cuts('Q046 Retry:', q046(GCID.rs2, { type: 'RETRY', rest: none }), PORT_GQUIC, (n) => (n < 5 ? stop('MALFORMED') : n === 5 ? stop('RETRY', 'Q046') : undefined));
  // short headers: the 8 CID bytes hashed from 9 bytes on; below, the IETF reading's reason, uncounted
  cuts('short header on the gQUIC-only VIP:', gquicShort(GCID.rs2, { rest: none }), PORT_GQUIC, (n) => (n < 9 ? stop('UNROUTABLE_CID') : toRs2('SHORT')));
  cuts('short header on the QUIC-LB + gQUIC VIP:', gquicShort(GCID.rs2, { rest: none }), PORT_GQUIC_LB, (n) =>
    n === 1 ? stop('MALFORMED') : n < 9 ? stop('UNROUTABLE_CID') : toRs2('SHORT'));
  return list;
}
