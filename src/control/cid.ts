// cid decode / encode: the data path's own decoder (src/quic/cid.ts) on a bare connection ID.
import { randomBytes } from 'node:crypto';
import { MAX_CID_LEN } from '../bpf/layout.js';
import { decodeCid } from '../quic/cid.js';
import { UsageError } from './errors.js';
import { formatSpec, sidLengths, specsToVip, type CidSpec } from './spec.js';

export interface Decoded {
  cid: string;
  serverId: string | null;
  /** why there is no server ID (the reason the data path would count) */
  reason: string | null;
}

/** `where` names the command in errors about the layout. */
export function cidDecode(hex: string, specs: CidSpec[], where = 'cid decode'): Decoded {
  const h = hex.toLowerCase().replace(/^0x/, '');
  if (!/^([0-9a-f]{2})*$/.test(h) || h.length / 2 > MAX_CID_LEN) throw new UsageError(`bad connection ID '${hex}': expected 0..${MAX_CID_LEN} bytes of hex`);
  const r = decodeCid(Buffer.from(h, 'hex'), specsToVip(specs, where));
  return 'sid' in r ? { cid: h, serverId: r.sid.toString('hex'), reason: null } : { cid: h, serverId: null, reason: r.reason.toLowerCase() };
}

/** A connection ID carrying `id` by the layout (random nonce), checked by decoding it back. */
export function cidEncode(specs: CidSpec[], id: string): string {
  const sid = Buffer.from(id, 'hex');
  // the layout's own errors first, named after this command
  specsToVip(specs, 'cid encode');
  if (!sidLengths(specs).includes(sid.length))
    throw new UsageError(`server ID ${id} is ${sid.length} bytes, but ${specs.map(formatSpec).join(' ')} carries ${sidLengths(specs).join(' or ')}-byte IDs`);
  const s = specs.find((x) => x.kind !== 'quic-lb' || x.sid === sid.length)!;
  let cid: Buffer;
  if (s.kind === 'quic-lb') {
    const len = 1 + s.sid + s.nonce;
    // first octet: config rotation bits, then the length self-encoded (length - 1)
    cid = Buffer.concat([Buffer.from([(s.cr << 5) | ((len - 1) & 0x1f)]), sid, randomBytes(s.nonce)]);
  } else if (s.kind === 'fixed') {
    cid = randomBytes(Math.max(s.offset + s.len, 8));
    sid.copy(cid, s.offset);
  } else {
    const version = sid.length - 1; // 2 bytes: v1, 3: v2, 4: v3
    cid = randomBytes(8);
    if (version === 1) {
      const host = sid.readUInt16BE(0);
      cid[0] = (1 << 6) | (host >> 10);
      cid[1] = (host >> 2) & 0xff;
      cid[2] = ((host & 3) << 6) | (cid[2]! & 0x3f);
    } else {
      cid[0] = (version << 6) | (cid[0]! & 0x3f);
      sid.copy(cid, 1);
    }
  }
  const back = cidDecode(cid.toString('hex'), specs, 'cid encode');
  if (back.serverId !== id) throw new Error(`internal: encoded CID ${cid.toString('hex')} decodes to ${back.serverId ?? back.reason}`);
  return cid.toString('hex');
}
