// The CID kit for Node QUIC servers (`import { quicLbEncoder } from 'quicsteer/cid'`): connection IDs
// a QUIC-LB load balancer such as quicsteer routes to the server that issued them. A stable API for
// server authors, built on the reference encoder (src/quic/quic-lb.ts), which the C kit
// (native/include/quicsteer/cid.h) is tested against byte for byte.
import { randomBytes } from 'node:crypto';
import { LB_KEY_LEN, LB_MAX_PLAIN, MAX_CID_LEN, MAX_SID_LEN, QUIC_LB_CONFIGS } from '../bpf/layout.js';
import { LB_MIN_NONCE, encodeCid, firstOctet } from '../quic/quic-lb.js';

/** A QUIC-LB configuration: the same values the load balancer decodes with (`--cid quic-lb:sid=..,nonce=..,cr=..`). */
export interface QuicLbOptions {
  /** Config rotation, 0..6 (7 marks unroutable CIDs); default 0. */
  cr?: number;
  /** Server ID length in octets, 1..15. */
  sidLen: number;
  /** Nonce length in octets, at least 4, sidLen + nonceLen <= 19; default 4. */
  nonceLen?: number;
  /** 16-octet AES-128 key: encrypted CIDs; absent: plaintext (the server ID readable on the wire). */
  key?: Buffer;
  /** The CID's length, 1 + sidLen + nonceLen (the default) up to 20: random octets follow the nonce. */
  cidLen?: number;
}

export interface QuicLbEncoder {
  /** Octets in every CID this encoder makes. */
  readonly cidLen: number;
  /** Octets of random input encode() takes: the nonce, then any extra octets (cidLen - 1 - sidLen). */
  readonly randomLen: number;
  /**
   * A CID for this server ID: first octet (cr, cidLen - 1), server ID ‖ nonce (encrypted with a key),
   * extra octets. `random`: randomLen fresh octets (default: crypto.randomBytes); pass your own only
   * from a CSPRNG, or fixed ones in tests. Throws RangeError on a server ID or random of another length.
   */
  encode(serverId: Buffer, random?: Buffer): Buffer;
}

function check(what: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${what} must be an integer from ${lo} to ${hi}, got ${v}`);
  return v;
}

/** An encoder for one QUIC-LB configuration (checked here, once: a bad option throws RangeError). */
export function quicLbEncoder(o: QuicLbOptions): QuicLbEncoder {
  const cr = check('cr', o.cr ?? 0, 0, QUIC_LB_CONFIGS - 1);
  const sidLen = check('sidLen', o.sidLen, 1, MAX_SID_LEN);
  const nonceLen = check('nonceLen', o.nonceLen ?? LB_MIN_NONCE, LB_MIN_NONCE, LB_MAX_PLAIN - sidLen);
  const cidLen = check('cidLen', o.cidLen ?? 1 + sidLen + nonceLen, 1 + sidLen + nonceLen, MAX_CID_LEN);
  if (o.key !== undefined && o.key.length !== LB_KEY_LEN) throw new RangeError(`key must be ${LB_KEY_LEN} bytes, got ${o.key.length}`);
  // a copy: the caller's buffer may be reused (or be a slice of Node's shared pool)
  const conf = { cr, sidLen, nonceLen, key: o.key && Buffer.from(o.key) };
  const randomLen = cidLen - 1 - sidLen;
  return {
    cidLen,
    randomLen,
    encode(serverId: Buffer, random: Buffer = randomBytes(randomLen)): Buffer {
      if (random.length !== randomLen) throw new RangeError(`random is ${random.length} bytes, the config takes ${randomLen}`);
      const cid = Buffer.concat([encodeCid(conf, serverId, random.subarray(0, nonceLen)), random.subarray(nonceLen)]);
      cid[0] = firstOctet(cr, cidLen);
      return cid;
    },
  };
}

// MsQuic's load-balancing layout and mvfst's (and the two MsQuic server-ID settings as wire bytes)
export { encodeMsquic, encodeMvfst, msquicServerIdFixed, msquicServerIdIp } from '../quic/vendor.js';
