// AES-128 as the XDP program's table implementation computes it (bpf/aes.h): the key schedules user
// space writes into qs_keys, and the same T-table rounds in TS, checked against node:crypto.
import { LB_KEY_LEN } from '../bpf/layout.js';

const xtime = (b: number) => ((b << 1) ^ (b & 0x80 ? 0x1b : 0)) & 0xff;

function mul(a: number, b: number): number {
  let r = 0;
  for (; b; b >>= 1, a = xtime(a)) if (b & 1) r ^= a;
  return r;
}

/** The S-box and its inverse (FIPS-197 5.1.1), computed: multiplicative inverse, then the affine map. */
function sboxes(): { sbox: number[]; inv: number[] } {
  const sbox = new Array<number>(256);
  const inv = new Array<number>(256);
  for (let x = 0; x < 256; x++) {
    let y = 0;
    for (let c = 1; c < 256 && x; c++) if (mul(x, c) === 1) y = c;
    const rot = (v: number, n: number) => ((v << n) | (v >> (8 - n))) & 0xff;
    const s = y ^ rot(y, 1) ^ rot(y, 2) ^ rot(y, 3) ^ rot(y, 4) ^ 0x63;
    sbox[x] = s;
    inv[s] = x;
  }
  return { sbox, inv };
}

export const { sbox: SBOX, inv: INV_SBOX } = sboxes();

const word = (b0: number, b1: number, b2: number, b3: number) => ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
const ror8 = (w: number) => ((w >>> 8) | (w << 24)) >>> 0;

/** Encryption T-table Te0 (Te1..Te3 are its byte rotations): S-box then MixColumns of one byte. */
export const TE0 = SBOX.map((s) => word(mul(s, 2), s, s, mul(s, 3)));
/** Decryption T-table Td0: inverse S-box then InvMixColumns of one byte. */
export const TD0 = INV_SBOX.map((s) => word(mul(s, 14), mul(s, 9), mul(s, 13), mul(s, 11)));
const TE = [TE0, TE0.map(ror8), TE0.map((w) => ror8(ror8(w))), TE0.map((w) => ror8(ror8(ror8(w))))];
const TD = [TD0, TD0.map(ror8), TD0.map((w) => ror8(ror8(w))), TD0.map((w) => ror8(ror8(ror8(w))))];

const b = (w: number, i: number) => (w >>> (24 - 8 * i)) & 0xff;

/** The schedules of struct qs_lb_key: enc = FIPS-197 w[0..43]; dec = the equivalent inverse cipher's, round 10 first. */
export function expandKey(key: Buffer): { enc: number[]; dec: number[] } {
  if (key.length !== LB_KEY_LEN) throw new RangeError(`AES-128 key must be ${LB_KEY_LEN} bytes, got ${key.length}`);
  const enc: number[] = [];
  for (let i = 0; i < 4; i++) enc.push(key.readUInt32BE(4 * i));
  let rcon = 1;
  for (let i = 4; i < 44; i++) {
    let t = enc[i - 1]!;
    if (i % 4 === 0) {
      t = word(SBOX[b(t, 1)]!, SBOX[b(t, 2)]!, SBOX[b(t, 3)]!, SBOX[b(t, 0)]!) ^ (rcon << 24);
      rcon = xtime(rcon);
    }
    enc.push((enc[i - 4]! ^ t) >>> 0);
  }
  const dec: number[] = [];
  for (let r = 10; r >= 0; r--) {
    for (let c = 0; c < 4; c++) {
      const w = enc[4 * r + c]!;
      // InvMixColumns of a round key: Td of the S-box of each byte undoes the S-box
      dec.push(r === 0 || r === 10 ? w : (TD[0]![SBOX[b(w, 0)]!]! ^ TD[1]![SBOX[b(w, 1)]!]! ^ TD[2]![SBOX[b(w, 2)]!]! ^ TD[3]![SBOX[b(w, 3)]!]!) >>> 0);
    }
  }
  return { enc, dec };
}

function rounds(rk: number[], block: Buffer, T: number[][], S: number[], order: number[]): Buffer {
  let s = [0, 1, 2, 3].map((c) => (block.readUInt32BE(4 * c) ^ rk[c]!) >>> 0);
  // column c of the next state takes row r's byte from column (c + order[r]) % 4 (ShiftRows or its inverse)
  const pick = (c: number, r: number) => b(s[(c + order[r]!) % 4]!, r);
  for (let round = 1; round < 10; round++) {
    s = [0, 1, 2, 3].map((c) => (T[0]![pick(c, 0)]! ^ T[1]![pick(c, 1)]! ^ T[2]![pick(c, 2)]! ^ T[3]![pick(c, 3)]! ^ rk[4 * round + c]!) >>> 0);
  }
  const out = Buffer.alloc(16);
  for (let c = 0; c < 4; c++) out.writeUInt32BE((word(S[pick(c, 0)]!, S[pick(c, 1)]!, S[pick(c, 2)]!, S[pick(c, 3)]!) ^ rk[40 + c]!) >>> 0, 4 * c);
  return out;
}

/** One block through the T-table rounds with the encryption schedule. */
export function encryptBlock(enc: number[], block: Buffer): Buffer {
  return rounds(enc, block, TE, SBOX, [0, 1, 2, 3]);
}

/** One block through the inverse T-table rounds with the decryption schedule. */
export function decryptBlock(dec: number[], block: Buffer): Buffer {
  return rounds(dec, block, TD, INV_SBOX, [0, 3, 2, 1]);
}
