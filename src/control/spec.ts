// CID layout specs (`quic-lb:sid=2,nonce=4,cr=0[,key-file=<path>]`, `fixed:offset=1,len=4`, `msquic`, `mvfst`, and
// `gquic` beside any of them) <-> VIP table values.
import { CID_FORMAT_MASK, CidFormat, GQUIC_CID_LEN, LB_KEY_LEN, LbFlags, MAX_CID_LEN, MAX_SID_LEN, QUIC_LB_CONFIGS, VIP_F_GQUIC, type VipT } from '../bpf/layout.js';
import { vipValue } from '../datapath/tables.js';
import { UsageError } from './errors.js';
import { keyFingerprint, parseKeyText, readKeyFile, readKeyStdin, resolveKeyPath } from './keys.js';
import { LB_MIN_NONCE } from '../quic/quic-lb.js';
import { MSQUIC_CID_LEN, MSQUIC_SID_LEN, MSQUIC_SID_OFFSET, MVFST_CID_LEN, MVFST_HOST_ID_BITS } from '../quic/vendor.js';

/**
 * A quic-lb config is encrypted when it has a key: `key` once read; `keyFile` (a path, or `-` for
 * stdin) until withKeys() reads it. A key written inline (key=<hex>) is accepted only where the
 * caller allows it (cid encode/decode: a key on a command line shows in the process list).
 */
export type CidSpec =
  | { kind: 'quic-lb'; sid: number; nonce: number; cr: number; key?: Buffer; keyFile?: string }
  | { kind: 'fixed'; offset: number; len: number }
  | { kind: 'msquic' }
  | { kind: 'mvfst' }
  /** gQUIC (Q043, Q046, Q050) on the VIP, beside its IETF layout (or alone): steered by the Maglev owner of the client's CID */
  | { kind: 'gquic' };

/** Server-ID lengths mvfst carries: v1 2 bytes, v2 3, v3 4. */
export const MVFST_SID_LENS = Object.values(MVFST_HOST_ID_BITS).map((bits) => bits / 8);

/** A spec as errors may show it: an inline key's value is never echoed. */
export function redactSpec(spec: string): string {
  return spec.replace(/(^|,)key=[^,]*/g, '$1key=(hidden)');
}

// Parameters whose value is text, not a number.
const TEXT_PARAMS = ['key-file', 'key'];

function params(body: string, spec: string, allowed: string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (body === '') return out;
  const shown = redactSpec(spec);
  for (const part of body.split(',')) {
    const m = /^([a-z-]+)=(.*)$/s.exec(part);
    const name = m?.[1] ?? '';
    if (!m || (TEXT_PARAMS.includes(name) ? m[2] === '' : !/^\d+$/.test(m[2]!)))
      throw new UsageError(`bad CID spec '${shown}': '${redactSpec(part)}' is not ${TEXT_PARAMS.includes(name) ? `${name}=<value>` : 'name=number'}`);
    if (!allowed.includes(name)) throw new UsageError(`bad CID spec '${shown}': unknown parameter '${name}' (takes ${allowed.join(', ')})`);
    if (out.has(name)) throw new UsageError(`bad CID spec '${shown}': '${name}' given twice`);
    out.set(name, m[2]!);
  }
  return out;
}

function inRange(spec: string, name: string, value: string | undefined, dflt: number | undefined, lo: number, hi: number): number {
  const v = value === undefined ? dflt! : Number(value);
  if (v < lo || v > hi) throw new UsageError(`bad CID spec '${redactSpec(spec)}': ${name} must be ${lo}..${hi}, got ${v}`);
  return v;
}

export interface SpecOptions {
  /** accept key=<hex> (cid encode/decode only) */
  inlineKey?: boolean;
}

/** The text after `quic-lb:` etc.; `key-file` values are kept as given (withKeys() reads them). */
export function parseSpec(spec: string, o: SpecOptions = {}): CidSpec {
  const [kind, body = ''] = spec.split(/:(.*)/s) as [string, string | undefined];
  const shown = redactSpec(spec);
  if (kind === 'quic-lb') {
    const p = params(body, spec, ['sid', 'nonce', 'cr', 'key-file', 'key']);
    if (!p.has('sid')) throw new UsageError(`bad CID spec '${shown}': quic-lb needs sid=<1-15>`);
    const sid = inRange(spec, 'sid', p.get('sid'), undefined, 1, MAX_SID_LEN);
    // the nonce defaults to the draft's minimum
    const nonce = inRange(spec, 'nonce', p.get('nonce'), LB_MIN_NONCE, LB_MIN_NONCE, MAX_CID_LEN - 1 - sid);
    const out: CidSpec = { kind, sid, nonce, cr: inRange(spec, 'cr', p.get('cr'), 0, 0, QUIC_LB_CONFIGS - 1) };
    if (p.has('key') && p.has('key-file')) throw new UsageError(`bad CID spec '${shown}': give key-file=<path> or key=<hex>, not both`);
    if (p.has('key')) {
      if (!o.inlineKey)
        throw new UsageError(`bad CID spec '${shown}': keys are not written inline here (the process list and copied files would show them): put the key in a file (mode 0600, owned by root) and give key-file=<path>, or key-file=- for standard input; key=<hex> is for cid encode/decode only`);
      out.key = parseKeyText(p.get('key')!, `bad CID spec '${shown}': key`);
    }
    if (p.has('key-file')) out.keyFile = p.get('key-file')!;
    return out;
  }
  if (kind === 'fixed') {
    const p = params(body, spec, ['offset', 'len']);
    if (!p.has('offset') || !p.has('len')) throw new UsageError(`bad CID spec '${shown}': fixed needs offset=<n>,len=<n>`);
    const len = inRange(spec, 'len', p.get('len'), undefined, 1, MAX_SID_LEN);
    return { kind, offset: inRange(spec, 'offset', p.get('offset'), undefined, 0, MAX_CID_LEN - len), len };
  }
  if (kind === 'msquic' && body === '') return { kind: 'msquic' };
  if (kind === 'mvfst' && body === '') return { kind: 'mvfst' };
  if (kind === 'gquic' && body === '') return { kind: 'gquic' };
  throw new UsageError(`bad CID spec '${shown}': expected quic-lb:sid=<1-15>[,nonce=<n>][,cr=<0-6>][,key-file=<path>], fixed:offset=<n>,len=<n>, msquic, mvfst or gquic`);
}

/** Reads every key file the specs name (paths relative to `base` when given); specs without one are returned as they are. */
export function withKeys(specs: CidSpec[], base?: string): CidSpec[] {
  return specs.map((s) => {
    if (s.kind !== 'quic-lb' || s.keyFile === undefined) return s;
    const file = resolveKeyPath(s.keyFile, base);
    const key = file === '-' ? readKeyStdin() : readKeyFile(file);
    const { keyFile: _, ...rest } = s;
    return { ...rest, key };
  });
}

/** A spec as shown to people: an encrypted config shows its key's fingerprint, never the key. */
export function formatSpec(s: CidSpec): string {
  if (s.kind === 'quic-lb')
    return `quic-lb:sid=${s.sid},nonce=${s.nonce}${s.cr ? `,cr=${s.cr}` : ''}${s.key ? `,key-fingerprint=${keyFingerprint(s.key)}` : s.keyFile !== undefined ? ',key-file=…' : ''}`;
  if (s.kind === 'fixed') return `fixed:offset=${s.offset},len=${s.len}`;
  return s.kind;
}

/**
 * The last byte of the CID (counting from 1) a layout reads to find the server ID: on a gQUIC VIP it
 * must be within the 8 bytes a gQUIC CID has, so that every packet of a gQUIC connection, long or
 * short header, gets the same answer from the same bytes (an encrypted config reads them all).
 */
function bytesRead(s: CidSpec): number {
  if (s.kind === 'quic-lb') return 1 + s.sid + (s.key || s.keyFile !== undefined ? s.nonce : 0);
  if (s.kind === 'fixed') return s.offset + s.len;
  if (s.kind === 'msquic') return MSQUIC_SID_OFFSET + MSQUIC_SID_LEN;
  return s.kind === 'mvfst' ? 1 + Math.max(...MVFST_SID_LENS) : 0;
}

/** The IETF layout's specs (gquic set apart). */
export function ietfSpecs(specs: CidSpec[]): CidSpec[] {
  return specs.filter((s) => s.kind !== 'gquic');
}

/**
 * One VIP's layout from its specs: several QUIC-LB configs (distinct cr), or exactly one other;
 * gquic beside them (or alone) sets the VIP's gQUIC flag.
 */
export function specsToVip(specs: CidSpec[], where: string): VipT {
  if (specs.length === 0) throw new UsageError(`${where}: needs a CID spec`);
  const ietf = ietfSpecs(specs);
  if (ietf.length < specs.length) {
    if (specs.length - ietf.length > 1) throw new UsageError(`${where}: gquic given twice`);
    const far = ietf.find((s) => bytesRead(s) > GQUIC_CID_LEN);
    if (far)
      throw new UsageError(
        `${where}: gquic needs the server ID within a CID's first ${GQUIC_CID_LEN} bytes (gQUIC CIDs are ${GQUIC_CID_LEN} bytes, and a connection's long and short headers must read the same ones), but ${formatSpec(far)} reads ${bytesRead(far)}`,
      );
    const v = ietf.length ? specsToVip(ietf, where) : vipValue({ cid_format: CidFormat.NONE });
    return { ...v, cid_format: v.cid_format | VIP_F_GQUIC };
  }
  const lb = specs.filter((s): s is Extract<CidSpec, { kind: 'quic-lb' }> => s.kind === 'quic-lb');
  if (lb.length > 0) {
    if (lb.length !== specs.length) throw new UsageError(`${where}: quic-lb configs cannot be mixed with other layouts`);
    const confs: { sid_len: number; nonce_len: number; flags: number; key: Buffer }[] = [];
    for (const s of lb) {
      if (confs[s.cr]) throw new UsageError(`${where}: two quic-lb configs with cr=${s.cr}`);
      if (s.keyFile !== undefined && !s.key) throw new Error(`internal: ${where}: key file not read (withKeys)`);
      confs[s.cr] = { sid_len: s.sid, nonce_len: s.nonce, flags: LbFlags.ENABLED | (s.key ? LbFlags.ENCRYPTED : 0), key: s.key ?? Buffer.alloc(LB_KEY_LEN) };
    }
    return vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: confs });
  }
  if (specs.length > 1) throw new UsageError(`${where}: only quic-lb takes several configs`);
  const s = specs[0]!;
  if (s.kind === 'fixed') return vipValue({ cid_format: CidFormat.FIXED, sid_offset: s.offset, sid_len: s.len, dcid_len: s.offset + s.len });
  // a fixed layout whose short headers carry MsQuic's whole 14-byte CID
  if (s.kind === 'msquic') return vipValue({ cid_format: CidFormat.FIXED, sid_offset: MSQUIC_SID_OFFSET, sid_len: MSQUIC_SID_LEN, dcid_len: MSQUIC_CID_LEN });
  return vipValue({ cid_format: CidFormat.MVFST, dcid_len: MVFST_CID_LEN });
}

/** The specs a VIP value was made from (empty for a VIP without a layout). */
export function vipToSpecs(v: VipT): CidSpec[] {
  if (v.cid_format & VIP_F_GQUIC) return [...vipToSpecs({ ...v, cid_format: v.cid_format & CID_FORMAT_MASK }), { kind: 'gquic' }];
  if (v.cid_format === CidFormat.QUIC_LB)
    return v.quic_lb.flatMap((c, cr) =>
      c.flags & LbFlags.ENABLED ? [{ kind: 'quic-lb' as const, sid: c.sid_len, nonce: c.nonce_len, cr, ...(c.flags & LbFlags.ENCRYPTED ? { key: Buffer.from(c.key) } : {}) }] : [],
    );
  // told apart by the short-header length: a VIP an older build pinned as msquic (5) reads as fixed:offset=1,len=4
  if (v.cid_format === CidFormat.FIXED)
    return [v.sid_offset === MSQUIC_SID_OFFSET && v.sid_len === MSQUIC_SID_LEN && v.dcid_len === MSQUIC_CID_LEN ? { kind: 'msquic' } : { kind: 'fixed', offset: v.sid_offset, len: v.sid_len }];
  if (v.cid_format === CidFormat.MVFST) return [{ kind: 'mvfst' }];
  return [];
}

/** Whether two spec lists decode alike, in any order (keys compared whole, not by fingerprint). */
export function sameSpecs(a: CidSpec[], b: CidSpec[]): boolean {
  const id = (xs: CidSpec[]) => xs.map((s) => `${formatSpec(s)}/${s.kind === 'quic-lb' ? (s.key?.toString('hex') ?? '') : ''}`).sort().join(' ');
  return id(a) === id(b);
}

/** Server-ID lengths a layout can carry. */
export function sidLengths(specs: CidSpec[]): number[] {
  const lens = (s: CidSpec) => (s.kind === 'quic-lb' ? [s.sid] : s.kind === 'fixed' ? [s.len] : s.kind === 'msquic' ? [MSQUIC_SID_LEN] : s.kind === 'mvfst' ? MVFST_SID_LENS : []);
  return [...new Set(specs.flatMap(lens))].sort((a, b) => a - b);
}
