// Vendor CID layouts byte for byte as the servers write them (MsQuic with load balancing on, mvfst):
// the encoders `quicsteer cid encode` and the CID kit share, and MsQuic's two server-ID settings as wire bytes.
// Names and signatures are stable: the C header-only kit's tests compare its CIDs with these.
import { randomBytes } from 'node:crypto';
import { Family } from '../bpf/layout.js';
import { ipBytes } from '../datapath/tables.js';

/** MsQuic (src/core/cid.h, load balancing on): 14-byte CIDs. */
export const MSQUIC_CID_LEN = 14;
/** MsQuic: the 4-byte server ID sits in bytes 1..4, after one random octet. */
export const MSQUIC_SID_OFFSET = 1;
export const MSQUIC_SID_LEN = 4;
// then the partition ID (bytes 5..6), then a 7-byte payload
const MSQUIC_PARTITION_OFFSET = 5;
const UINT16_MAX = 0xffff;
const UINT32_MAX = 0xffffffff;

/**
 * An MsQuic CID with load balancing on (14 bytes): byte 0 random, bytes 1..4 the server ID as on
 * the wire, bytes 5..6 the partition ID (a uint16 in host order: little-endian), bytes 7..13
 * payload. `random`: the 14 bytes the CID starts from (fixed vectors; random when absent); the
 * server ID, and the partition when given, are written over them.
 */
export function encodeMsquic(serverId: Buffer, opts: { partition?: number; random?: Buffer } = {}): Buffer {
  if (serverId.length !== MSQUIC_SID_LEN) throw new RangeError(`MsQuic server IDs are ${MSQUIC_SID_LEN} bytes, got ${serverId.length}`);
  if (opts.random !== undefined && opts.random.length !== MSQUIC_CID_LEN) throw new RangeError(`random: ${MSQUIC_CID_LEN} bytes, got ${opts.random.length}`);
  const { partition } = opts;
  if (partition !== undefined && !(Number.isInteger(partition) && partition >= 0 && partition <= UINT16_MAX))
    throw new RangeError(`partition: 0..${UINT16_MAX}, got ${partition}`);
  const cid = opts.random ? Buffer.from(opts.random) : randomBytes(MSQUIC_CID_LEN);
  serverId.copy(cid, MSQUIC_SID_OFFSET);
  if (partition !== undefined) cid.writeUInt16LE(partition, MSQUIC_PARTITION_OFFSET);
  return cid;
}

/**
 * MsQuic SERVER_ID_IP: the server's address as its CIDs carry it: an IPv4 address in network order,
 * or the last 4 bytes of an IPv6 address (a zone, %eth0, is ignored). RangeError when not an address.
 */
export function msquicServerIdIp(addr: string): Buffer {
  const { addr: b, family } = ipBytes(addr.replace(/%.*$/, ''));
  return Buffer.from(family === Family.IPV4 ? b.subarray(0, 4) : b.subarray(12, 16));
}

/**
 * MsQuic SERVER_ID_FIXED: MsQuic copies the uint32 FixedServerID from memory, so the hosts it runs
 * on (x86, arm64: little-endian) put it on the wire least significant byte first: 0x0a0b0c0d ->
 * 0d0c0b0a. RangeError unless n is a whole number 0..4294967295.
 */
export function msquicServerIdFixed(n: number): Buffer {
  if (!(Number.isInteger(n) && n >= 0 && n <= UINT32_MAX)) throw new RangeError(`FixedServerID is a uint32, 0..${UINT32_MAX}: got ${n}`);
  const b = Buffer.alloc(MSQUIC_SID_LEN);
  b.writeUInt32LE(n);
  return b;
}

/** A 4-byte MsQuic server ID read back both ways: the SERVER_ID_IP address (IPv4) and the SERVER_ID_FIXED uint32. */
export function msquicServerIdSettings(serverId: Buffer): { ip: string; fixed: number } {
  if (serverId.length !== MSQUIC_SID_LEN) throw new RangeError(`MsQuic server IDs are ${MSQUIC_SID_LEN} bytes, got ${serverId.length}`);
  return { ip: [...serverId].join('.'), fixed: serverId.readUInt32LE(0) };
}

/** mvfst's own CIDs are 8 bytes (kDefaultConnectionIdSize). */
export const MVFST_CID_LEN = 8;
/** mvfst's shortest CID per layout version (QuicConstants.h kMinSelfConnectionIdV1..V3Size): canParse() refuses shorter ones. */
export const MVFST_MIN_CID_LEN = { 1: 4, 2: 6, 3: 7 } as const;
export type MvfstVersion = keyof typeof MVFST_MIN_CID_LEN;
/** Host-ID widths: v1 16 bits (CID bits 2..17), v2 24 bits (bytes 1..3), v3 32 bits (bytes 1..4). */
export const MVFST_HOST_ID_BITS = { 1: 16, 2: 24, 3: 32 } as const;
const VERSION_SHIFT = 6;

/**
 * An mvfst CID (8 bytes) as DefaultConnectionIdAlgo writes it: the version in the top two bits of
 * byte 0, then the host ID (v1: bits 2..17; v2: bytes 1..3; v3: bytes 1..4, big-endian). Every
 * other bit (worker and process IDs included) comes from `random`: the 8 bytes the CID starts
 * from (fixed vectors; random when absent).
 */
export function encodeMvfst(version: MvfstVersion, hostId: number, random?: Buffer): Buffer {
  if (!(version in MVFST_HOST_ID_BITS)) throw new RangeError(`mvfst CID versions are 1, 2, 3: got ${version}`);
  const bits = MVFST_HOST_ID_BITS[version];
  if (!(Number.isInteger(hostId) && hostId >= 0 && hostId < 2 ** bits)) throw new RangeError(`mvfst v${version} host IDs are ${bits}-bit: got ${hostId}`);
  if (random !== undefined && random.length !== MVFST_CID_LEN) throw new RangeError(`random: ${MVFST_CID_LEN} bytes, got ${random.length}`);
  const cid = random ? Buffer.from(random) : randomBytes(MVFST_CID_LEN);
  if (version === 1) {
    cid[0] = (version << VERSION_SHIFT) | (hostId >> 10);
    cid[1] = (hostId >> 2) & 0xff;
    cid[2] = ((hostId & 3) << 6) | (cid[2]! & 0x3f);
  } else {
    cid[0] = (version << VERSION_SHIFT) | (cid[0]! & 0x3f);
    cid.writeUIntBE(hostId, 1, bits / 8);
  }
  return cid;
}
