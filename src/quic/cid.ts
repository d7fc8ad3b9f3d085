// Server-ID decoding by CID layout, as bpf/cid.h does it: the reference for tests and `quicsteer cid decode`.
import { CID_FORMAT_MASK, CidFormat, LB_MAX_PLAIN, LB_MIN_PLAIN, LbFlags, MAX_SID_LEN, type ReasonName, type VipT } from '../bpf/layout.js';
import type { Dcid } from './header.js';
import { decryptSid } from './quic-lb.js';
import { MVFST_MIN_CID_LEN, type MvfstVersion } from './vendor.js';

export type SidResult = { sid: Buffer } | { reason: ReasonName };

/** quic_lb_sid(): QUIC-LB, plaintext or encrypted (the octets after the first decrypted with the config's key). */
function quicLbSid(cid: Buffer, wireLen: number | null, vip: VipT): SidResult {
  if (wireLen === null ? cid.length < 1 : wireLen < 1) return { reason: wireLen === null ? 'MALFORMED' : 'UNROUTABLE_CID' };
  const cr = cid[0]! >> 5;
  if (cr >= 7) return { reason: 'UNROUTABLE_CID' };
  const conf = vip.quic_lb[cr]!;
  if (!(conf.flags & LbFlags.ENABLED)) return { reason: 'UNROUTABLE_CID' };
  if (conf.sid_len < 1 || conf.sid_len > MAX_SID_LEN) return { reason: 'UNROUTABLE_CID' };
  const plain = conf.sid_len + conf.nonce_len;
  if (conf.flags & LbFlags.ENCRYPTED && (plain < LB_MIN_PLAIN || plain > LB_MAX_PLAIN)) return { reason: 'UNROUTABLE_CID' };
  const need = 1 + plain;
  if (wireLen === null ? need > cid.length : need > wireLen) return { reason: wireLen === null ? 'MALFORMED' : 'UNROUTABLE_CID' };
  if (conf.flags & LbFlags.ENCRYPTED) return { sid: decryptSid(conf.key, cid.subarray(1, need), conf.sid_len).sid };
  return { sid: Buffer.from(cid.subarray(1, 1 + conf.sid_len)) };
}

/** fixed_sid(): a fixed offset and length (MsQuic). */
function fixedSid(cid: Buffer, cidLen: number, vip: VipT): SidResult {
  const { sid_offset: off, sid_len: len } = vip;
  if (len < 1 || len > MAX_SID_LEN || off + len > cidLen) return { reason: 'UNROUTABLE_CID' };
  return { sid: Buffer.from(cid.subarray(off, off + len)) };
}

/**
 * mvfst_sid(): Katran's layouts v1 (16-bit, bits 2..17), v2 (24-bit, bytes 1..3), v3 (32-bit, bytes
 * 1..4); a CID shorter than mvfst's minimum for its version (4, 6, 7 bytes) is none of mvfst's.
 */
function mvfstSid(cid: Buffer, cidLen: number): SidResult {
  if (cidLen < 1) return { reason: 'UNROUTABLE_CID' };
  const version = cid[0]! >> 6;
  if (version === 0 || MVFST_MIN_CID_LEN[version as MvfstVersion] > cidLen) return { reason: 'UNROUTABLE_CID' };
  if (version === 1) {
    const host = ((cid[0]! & 0x3f) << 10) | (cid[1]! << 2) | (cid[2]! >> 6);
    return { sid: Buffer.from([host >> 8, host & 0xff]) };
  }
  return { sid: Buffer.from(cid.subarray(1, 2 + version)) }; // v2: 3 bytes, v3: 4
}

/**
 * decode_sid(): the server ID in the DCID at payload[dcid.off], by the VIP's layout (its IETF
 * layout: the gQUIC flag masked off). For a short header the payload must hold the whole CID the
 * layout says it carries (else MALFORMED).
 */
export function decodeSid(payload: Buffer, dcid: Dcid, vip: VipT): SidResult {
  const cid = payload.subarray(dcid.off);
  const layout = vip.cid_format & CID_FORMAT_MASK;
  if (layout === CidFormat.QUIC_LB) return quicLbSid(cid, dcid.len, vip);
  let cidLen: number;
  if (dcid.len === null) {
    cidLen = vip.dcid_len;
    if (cidLen > cid.length) return { reason: 'MALFORMED' };
  } else {
    cidLen = dcid.len;
  }
  if (layout === CidFormat.FIXED) return fixedSid(cid, cidLen, vip);
  if (layout === CidFormat.MVFST) return mvfstSid(cid, cidLen);
  return { reason: 'UNROUTABLE_CID' };
}

/** The server ID of a bare connection ID (its length known, as in a long header). */
export function decodeCid(cid: Buffer, vip: VipT): SidResult {
  return decodeSid(cid, { off: 0, len: cid.length }, vip);
}
