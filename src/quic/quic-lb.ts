// QUIC-LB connection IDs (draft-ietf-quic-load-balancers-21): encode and decode, plaintext and
// encrypted (single pass when sid + nonce = 16, else the 4-pass Feistel). The reference for the
// XDP program's decoder (bpf/quic_lb.h) and for `quicsteer cid encode/decode`; AES from node:crypto.
import { createCipheriv, createDecipheriv } from 'node:crypto';

export interface LbConfig {
  cr: number;
  sidLen: number;
  nonceLen: number;
  /** 16 bytes: encrypted; absent: plaintext */
  key?: Buffer;
}

function aes(key: Buffer, block: Buffer, decrypt = false): Buffer {
  const c = decrypt ? createDecipheriv('aes-128-ecb', key, null) : createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** expand(length, pass, half): the half in the most significant octets, then zeros, then length, pass. */
function expand(length: number, pass: number, half: Buffer): Buffer {
  const out = Buffer.alloc(16);
  half.copy(out);
  out[14] = length;
  out[15] = pass;
  return out;
}

/** Splits plaintext (or ciphertext) into halves of ceil(len/2) octets; odd: left's last nibble and right's first are cleared. */
function split(p: Buffer): [Buffer, Buffer] {
  const half = Math.ceil(p.length / 2);
  const left = Buffer.from(p.subarray(0, half));
  const right = Buffer.from(p.subarray(p.length - half));
  if (p.length % 2) {
    left[half - 1]! &= 0xf0;
    right[0]! &= 0x0f;
  }
  return [left, right];
}

/** Joins halves back into len octets (odd: the shared middle octet is left's high nibble | right's low one). */
function join(left: Buffer, right: Buffer, len: number): Buffer {
  const half = left.length;
  if (len % 2 === 0) return Buffer.concat([left, right]);
  const out = Buffer.concat([left, right.subarray(1)]);
  out[half - 1] = (left[half - 1]! & 0xf0) | (right[0]! & 0x0f);
  return out;
}

/** One Feistel pass: target xor the first half-length octets of AES(expand(len, pass, source)), nibble-cleared. */
function pass(key: Buffer, len: number, n: number, source: Buffer, target: Buffer, side: 'left' | 'right'): Buffer {
  const r = aes(key, expand(len, n, source));
  const out = Buffer.from(target.map((x, i) => x ^ r[i]!));
  if (len % 2) {
    if (side === 'left') out[out.length - 1]! &= 0xf0;
    else out[0]! &= 0x0f;
  }
  return out;
}

/** The sid ‖ nonce octets encrypted (draft section 5.4.x, server actions). */
export function encryptPlain(key: Buffer, plain: Buffer): Buffer {
  const len = plain.length;
  if (len === 16) return aes(key, plain);
  const [l0, r0] = split(plain);
  const r1 = pass(key, len, 1, l0, r0, 'right');
  const l1 = pass(key, len, 2, r1, l0, 'left');
  const r2 = pass(key, len, 3, l1, r1, 'right');
  const l2 = pass(key, len, 4, r2, l1, 'left');
  return join(l2, r2, len);
}

/**
 * The octets decrypted as far as `sidLen` needs: the single pass when they are 16; else the Feistel
 * network backwards, stopping after pass 2 when the first sidLen octets lie whole in left_0 (the
 * nonce at least as long as the server ID), else all 4 passes. `passes`: the AES operations taken.
 */
function decrypt(key: Buffer, ct: Buffer, sidLen: number): { plain: Buffer; passes: number } {
  const len = ct.length;
  if (len === 16) return { plain: aes(key, ct, true), passes: 1 };
  const [l2, r2] = split(ct);
  const l1 = pass(key, len, 4, r2, l2, 'left');
  const r1 = pass(key, len, 3, l1, r2, 'right');
  const l0 = pass(key, len, 2, r1, l1, 'left');
  if (sidLen <= len >> 1) return { plain: l0, passes: 3 };
  const r0 = pass(key, len, 1, l0, r1, 'right');
  return { plain: join(l0, r0, len), passes: 4 };
}

/** The server ID from encrypted octets, as a load balancer recovers it (1, 3 or 4 AES operations: `passes`). */
export function decryptSid(key: Buffer, ct: Buffer, sidLen: number): { sid: Buffer; passes: number } {
  const { plain, passes } = decrypt(key, ct, sidLen);
  return { sid: plain.subarray(0, sidLen), passes };
}

/** The whole plaintext (server ID ‖ nonce) of encrypted octets: all 4 passes (for `cid decode`). */
export function decryptPlain(key: Buffer, ct: Buffer): Buffer {
  return decrypt(key, ct, ct.length).plain;
}

/** The shortest nonce the draft allows (server ID + nonce at most LB_MAX_PLAIN). */
export const LB_MIN_NONCE = 4;

/** First octet: the config rotation bits, then the CID's length minus one (length self-encoding). */
export function firstOctet(cr: number, cidLen: number): number {
  return (cr << 5) | ((cidLen - 1) & 0x1f);
}

/** A QUIC-LB CID for a server ID and nonce under a config. */
export function encodeCid(c: LbConfig, sid: Buffer, nonce: Buffer): Buffer {
  if (sid.length !== c.sidLen) throw new RangeError(`server ID is ${sid.length} bytes, the config carries ${c.sidLen}`);
  if (nonce.length !== c.nonceLen) throw new RangeError(`nonce is ${nonce.length} bytes, the config takes ${c.nonceLen}`);
  const plain = Buffer.concat([sid, nonce]);
  const body = c.key ? encryptPlain(c.key, plain) : plain;
  return Buffer.concat([Buffer.from([firstOctet(c.cr, 1 + plain.length)]), body]);
}

/** Server ID and nonce of a CID under a config (the CID at least 1 + sid + nonce octets; more are ignored). */
export function decodeCidLb(c: LbConfig, cid: Buffer): { sid: Buffer; nonce: Buffer } {
  const n = c.sidLen + c.nonceLen;
  if (cid.length < 1 + n) throw new RangeError(`CID is ${cid.length} bytes, the config needs ${1 + n}`);
  const body = cid.subarray(1, 1 + n);
  const plain = c.key ? decryptPlain(c.key, body) : body;
  return { sid: Buffer.from(plain.subarray(0, c.sidLen)), nonce: Buffer.from(plain.subarray(c.sidLen)) };
}
