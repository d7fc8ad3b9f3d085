// QUIC header facts and the reader the XDP program implements (bpf/quic.h), written plainly.
import type { ReasonName } from '../bpf/layout.js';

export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;
export const QUIC_DRAFT_29 = 0xff00001d;
export const QUIC_LONG_HEADER = 0x80;

/** Long-header packet types, in v1 order. */
export const LongType = { INITIAL: 0, ZERO_RTT: 1, HANDSHAKE: 2, RETRY: 3 } as const;
export type LongTypeName = keyof typeof LongType;

/** The type bits (0..3) a version uses on the wire for a packet type (RFC 9000 17.2, RFC 9369 3.2). */
export function longTypeBits(version: number, type: LongTypeName): number {
  const v1 = LongType[type];
  return version === QUIC_V2 ? (v1 + 1) & 3 : v1;
}

/** Where the DCID starts in the UDP payload, and its length when the wire says it (long header). */
export interface Dcid {
  off: number;
  /** null: short header, the length comes from the VIP's CID layout. */
  len: number | null;
}

/** parse_quic(): the DCID of a Handshake or short-header packet, or the reason to pass. */
export function parseQuic(payload: Buffer): Dcid | ReasonName {
  if (payload.length < 1) return 'NOT_QUIC';
  if (!(payload[0]! & QUIC_LONG_HEADER)) return { off: 1, len: null };
  if (payload.length < 5) return 'MALFORMED';
  const version = payload.readUInt32BE(1);
  let type = (payload[0]! & 0x30) >> 4;
  if (version === 0) return 'VERSION_NEGOTIATION';
  if (version === QUIC_V2) type = (type + 3) & 3;
  else if (version !== QUIC_V1 && version !== QUIC_DRAFT_29) return 'UNKNOWN_VERSION';
  if (type === LongType.INITIAL) return 'INITIAL';
  if (type === LongType.ZERO_RTT) return 'ZERO_RTT';
  if (type === LongType.RETRY) return 'RETRY';
  if (payload.length < 6) return 'MALFORMED';
  const len = payload[5]!;
  if (len > 20 || 6 + len > payload.length) return 'MALFORMED';
  return { off: 6, len };
}
