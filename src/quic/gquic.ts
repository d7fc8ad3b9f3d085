// gQUIC headers (Q043, Q046, Q050) as the XDP program reads them on a VIP with gQUIC on (the design of issue 17),
// written plainly: which form a first octet is, where the client CID sits, and when the header is cut short.
import { GQUIC_CID_LEN, GquicVersion, MAX_CID_LEN, type GquicFormName, type ReasonName } from '../bpf/layout.js';
import { LongType, QUIC_LONG_HEADER } from './header.js';

/** Q043 public flags (google/quiche quic_packets.h PACKET_PUBLIC_FLAGS_*). */
export const Q043Flags = { VERSION: 0x01, RESET: 0x02, NONCE: 0x04, CID: 0x08 } as const;
/** The IETF fixed bit: set, the first octet is never a Q043 public header (QuicUtils::IsIetfPacketHeader). */
export const FIXED_BIT = 0x40;
/** Q043 packet-number lengths by the flags' bits 4..5. */
export const Q043_PN_LEN = [1, 2, 4, 6] as const;
/** Q046 CID-length nibbles: 0 is no CID, n is n + 3 bytes (QuicFramer's kConnectionIdLengthAdjustment). */
export const Q046_CIL_ADJUST = 3;
/** Offsets of the CID: after the flags (Q043, short headers), after flags, version and the length byte (long headers). */
const SHORT_CID_OFF = 1;
const LONG_CID_OFF = 6;

/** A gQUIC-form header ready for the decision: its form, where its CID starts, and whether 8 client-CID bytes are there to hash. */
export interface GquicHeader {
  form: GquicFormName;
  off: number;
  hash: boolean;
  /** Q043: why its header refuses it; applied only when the CID names no known server (a greased IETF header reads as Q043 too) */
  stop?: ReasonName;
}

/** A gQUIC-form packet that stops before the decision (cut short, refused flags, another version in a Q043 header, a Retry). */
export interface GquicStop {
  form: GquicFormName;
  reason: ReasonName;
}

/** The packet number's length in a Q043 public header. */
export function q043PnLen(b0: number): number {
  return Q043_PN_LEN[(b0 >> 4) & 3]!;
}

/** The Q043 public header's length (flags, CID, version when flagged, packet number unless a reset); the nonce flag is ignored. */
export function q043HeaderLen(b0: number): number {
  return 1 + GQUIC_CID_LEN + (b0 & Q043Flags.VERSION ? 4 : 0) + (b0 & Q043Flags.RESET ? 0 : q043PnLen(b0));
}

/** A Q046 long header's DCID length from its nibble byte. */
export function q046DcidLen(cil: number): number {
  const dcil = cil >> 4;
  return dcil ? dcil + Q046_CIL_ADJUST : 0;
}

/**
 * Q043: flags byte with the version flag checked against the reset flag, the whole header there, and
 * the version Q043; a refusal is the header's `stop`, for the decision to apply after the IETF reading.
 */
function q043(p: Buffer): GquicHeader {
  const b0 = p[0]!;
  const h: GquicHeader = { form: 'Q043', off: SHORT_CID_OFF, hash: true };
  // google's framer: "Got version flag in reset packet"
  if (b0 & Q043Flags.VERSION && b0 & Q043Flags.RESET) return { ...h, stop: 'MALFORMED' };
  if (p.length < q043HeaderLen(b0)) return { ...h, stop: 'MALFORMED' };
  if (b0 & Q043Flags.VERSION && p.readUInt32BE(1 + GQUIC_CID_LEN) !== GquicVersion.Q043) return { ...h, stop: 'UNKNOWN_VERSION' };
  return h;
}

/** Q046 / Q050 long headers (the version already read): the type, the DCID length, the DCID inside the payload. */
function gquicLong(p: Buffer, form: 'Q046' | 'Q050'): GquicHeader | GquicStop {
  const stop = (reason: ReasonName): GquicStop => ({ form, reason });
  if ((p[0]! & 0x30) >> 4 === LongType.RETRY) return stop('RETRY');
  if (p.length < LONG_CID_OFF) return stop('MALFORMED');
  const dcidLen = form === 'Q046' ? q046DcidLen(p[5]!) : p[5]!;
  if (dcidLen > MAX_CID_LEN || LONG_CID_OFF + dcidLen > p.length) return stop('MALFORMED');
  return { form, off: LONG_CID_OFF, hash: dcidLen === GQUIC_CID_LEN };
}

/**
 * How a gQUIC-enabled VIP reads a UDP payload: a gQUIC-form header, a gQUIC-form packet that stops
 * before the decision, or null for what is read exactly as on any VIP (empty, a long header cut
 * inside its version, or one of another version: parseQuic()).
 */
export function parseGquic(p: Buffer): GquicHeader | GquicStop | null {
  if (p.length < 1) return null;
  const b0 = p[0]!;
  if (b0 & QUIC_LONG_HEADER) {
    if (p.length < 5) return null;
    const version = p.readUInt32BE(1);
    if (version === GquicVersion.Q046) return gquicLong(p, 'Q046');
    if (version === GquicVersion.Q050) return gquicLong(p, 'Q050');
    return null;
  }
  if (!(b0 & FIXED_BIT) && b0 & Q043Flags.CID) return q043(p);
  return { form: 'SHORT', off: SHORT_CID_OFF, hash: p.length >= SHORT_CID_OFF + GQUIC_CID_LEN };
}
