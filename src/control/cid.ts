// cid decode / encode: the data path's own decoder (src/quic/cid.ts) on a bare connection ID; QUIC-LB CIDs made by
// src/quic/quic-lb.ts, MsQuic and mvfst CIDs by src/quic/vendor.ts.
import { randomBytes } from 'node:crypto';
import { MAX_CID_LEN, QUIC_LB_CONFIGS } from '../bpf/layout.js';
import { decodeCid } from '../quic/cid.js';
import { decodeCidLb, encodeCid } from '../quic/quic-lb.js';
import { encodeMsquic, encodeMvfst, msquicServerIdSettings, type MvfstVersion } from '../quic/vendor.js';
import { UsageError } from './errors.js';
import { formatSpec, ietfSpecs, sidLengths, specsToVip, type CidSpec } from './spec.js';

export interface Decoded {
  cid: string;
  serverId: string | null;
  /** QUIC-LB: the nonce (decrypted when the config is encrypted); null for other layouts or no server ID */
  nonce: string | null;
  /** QUIC-LB: the first octet's config rotation bits (7: unroutable); null for other layouts */
  configRotation: number | null;
  /** QUIC-LB: whether the config the CID names is encrypted */
  encrypted: boolean;
  /** why there is no server ID (the reason the data path would count) */
  reason: string | null;
  /** msquic layout with a server ID only: that ID as either MsQuic setting would make it, in the forms --id takes */
  msquic?: { ip: string; fixed: string };
}

/** The MsQuic settings that put these 4 bytes in a CID: SERVER_ID_IP's address, SERVER_ID_FIXED's uint32 (hex). */
function msquicForms(sid: Buffer): { ip: string; fixed: string } {
  const s = msquicServerIdSettings(sid);
  return { ip: `msquic-ip:${s.ip}`, fixed: `msquic-fixed:0x${s.fixed.toString(16).padStart(8, '0')}` };
}

type LbSpec = Extract<CidSpec, { kind: 'quic-lb' }>;

/** The IETF layout of the specs: gquic names no layout (a gQUIC CID is the client's, with no server ID in it). */
function layoutOf(specs: CidSpec[], where: string): CidSpec[] {
  const ietf = ietfSpecs(specs);
  if (ietf.length === 0) throw new UsageError(`${where}: gquic CIDs are chosen by the client and carry no server ID (their owner comes from the servers' Maglev table): give the IETF layout`);
  return ietf;
}

/** `where` names the command in errors about the layout. */
export function cidDecode(hex: string, specs: CidSpec[], where = 'cid decode'): Decoded {
  specs = layoutOf(specs, where);
  const h = hex.toLowerCase().replace(/^0x/, '');
  if (!/^([0-9a-f]{2})*$/.test(h) || h.length / 2 > MAX_CID_LEN) throw new UsageError(`bad connection ID '${hex}': expected 0..${MAX_CID_LEN} bytes of hex`);
  const cid = Buffer.from(h, 'hex');
  const r = decodeCid(cid, specsToVip(specs, where));
  const lb = specs[0]?.kind === 'quic-lb' && cid.length > 0;
  const cr = lb ? cid[0]! >> 5 : null;
  const conf = cr === null ? undefined : (specs as LbSpec[]).find((s) => s.cr === cr);
  const rest = { configRotation: cr, encrypted: !!conf?.key };
  if (!('sid' in r)) return { cid: h, serverId: null, nonce: null, ...rest, reason: r.reason.toLowerCase() };
  const nonce = conf ? decodeCidLb({ cr: conf.cr, sidLen: conf.sid, nonceLen: conf.nonce, key: conf.key }, cid).nonce.toString('hex') : null;
  const msquic = specs[0]?.kind === 'msquic' ? { msquic: msquicForms(r.sid) } : {};
  return { cid: h, serverId: r.sid.toString('hex'), nonce, ...rest, reason: null, ...msquic };
}

/** A connection ID carrying `id` by the layout (random nonce unless `nonceHex`), checked by decoding it back. */
export function cidEncode(specs: CidSpec[], id: string, nonceHex?: string): string {
  specs = layoutOf(specs, 'cid encode');
  const sid = Buffer.from(id, 'hex');
  // the layout's own errors first, named after this command
  specsToVip(specs, 'cid encode');
  if (!sidLengths(specs).includes(sid.length))
    throw new UsageError(`server ID ${id} is ${sid.length} bytes, but ${specs.map(formatSpec).join(' ')} carries ${sidLengths(specs).join(' or ')}-byte IDs`);
  const s = specs.find((x) => x.kind !== 'quic-lb' || x.sid === sid.length)!;
  if (nonceHex !== undefined && s.kind !== 'quic-lb') throw new UsageError(`--nonce: only quic-lb CIDs carry a nonce (${formatSpec(s)} does not)`);
  let cid: Buffer;
  if (s.kind === 'quic-lb') {
    const nonce = nonceHex === undefined ? randomBytes(s.nonce) : Buffer.from(nonceHex, 'hex');
    if (nonce.length !== s.nonce) throw new UsageError(`--nonce ${nonceHex} is ${nonce.length} bytes, but ${formatSpec(s)} takes a ${s.nonce}-byte nonce`);
    if (s.cr >= QUIC_LB_CONFIGS) throw new Error('unreachable: cr checked by the spec');
    cid = encodeCid({ cr: s.cr, sidLen: s.sid, nonceLen: s.nonce, key: s.key }, sid, nonce);
  } else if (s.kind === 'fixed') {
    cid = randomBytes(Math.max(s.offset + s.len, 8));
    sid.copy(cid, s.offset);
  } else if (s.kind === 'msquic') {
    cid = encodeMsquic(sid);
  } else {
    // 2 bytes: v1, 3: v2, 4: v3
    cid = encodeMvfst((sid.length - 1) as MvfstVersion, sid.readUIntBE(0, sid.length));
  }
  const back = cidDecode(cid.toString('hex'), specs, 'cid encode');
  if (back.serverId !== id) throw new Error(`internal: encoded CID ${cid.toString('hex')} decodes to ${back.serverId ?? back.reason}`);
  return cid.toString('hex');
}
