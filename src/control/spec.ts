// CID layout specs (`quic-lb:sid=2,nonce=4,cr=0`, `fixed:offset=1,len=4`, `msquic`, `mvfst`) <-> VIP table values.
import { CidFormat, LbFlags, MAX_CID_LEN, MAX_SID_LEN, QUIC_LB_CONFIGS, type VipT } from '../bpf/layout.js';
import { vipValue } from '../datapath/tables.js';
import { UsageError } from './errors.js';

export type CidSpec =
  | { kind: 'quic-lb'; sid: number; nonce: number; cr: number }
  | { kind: 'fixed'; offset: number; len: number }
  | { kind: 'mvfst' };

// QUIC-LB: a nonce of at least 4 bytes (draft-ietf-quic-load-balancers); the default is that minimum.
const QUIC_LB_MIN_NONCE = 4;
// mvfst CIDs are 8 bytes long (the length Katran reads them at).
const MVFST_CID_LEN = 8;
/** Server-ID lengths mvfst carries: v1 2 bytes, v2 3, v3 4. */
export const MVFST_SID_LENS = [2, 3, 4];

function params(body: string, spec: string, allowed: string[]): Map<string, number> {
  const out = new Map<string, number>();
  if (body === '') return out;
  for (const part of body.split(',')) {
    const m = /^([a-z]+)=(\d+)$/.exec(part);
    if (!m) throw new UsageError(`bad CID spec '${spec}': '${part}' is not name=number`);
    const [, name, value] = m as unknown as [string, string, string];
    if (!allowed.includes(name)) throw new UsageError(`bad CID spec '${spec}': unknown parameter '${name}' (takes ${allowed.join(', ')})`);
    if (out.has(name)) throw new UsageError(`bad CID spec '${spec}': '${name}' given twice`);
    out.set(name, Number(value));
  }
  return out;
}

function inRange(spec: string, name: string, v: number, lo: number, hi: number): number {
  if (v < lo || v > hi) throw new UsageError(`bad CID spec '${spec}': ${name} must be ${lo}..${hi}, got ${v}`);
  return v;
}

export function parseSpec(spec: string): CidSpec {
  const [kind, body = ''] = spec.split(/:(.*)/s) as [string, string | undefined];
  if (kind === 'quic-lb') {
    const p = params(body, spec, ['sid', 'nonce', 'cr']);
    if (!p.has('sid')) throw new UsageError(`bad CID spec '${spec}': quic-lb needs sid=<1-15>`);
    const sid = inRange(spec, 'sid', p.get('sid')!, 1, MAX_SID_LEN);
    const nonce = inRange(spec, 'nonce', p.get('nonce') ?? QUIC_LB_MIN_NONCE, QUIC_LB_MIN_NONCE, MAX_CID_LEN - 1 - sid);
    return { kind, sid, nonce, cr: inRange(spec, 'cr', p.get('cr') ?? 0, 0, QUIC_LB_CONFIGS - 1) };
  }
  if (kind === 'fixed') {
    const p = params(body, spec, ['offset', 'len']);
    if (!p.has('offset') || !p.has('len')) throw new UsageError(`bad CID spec '${spec}': fixed needs offset=<n>,len=<n>`);
    const len = inRange(spec, 'len', p.get('len')!, 1, MAX_SID_LEN);
    return { kind, offset: inRange(spec, 'offset', p.get('offset')!, 0, MAX_CID_LEN - len), len };
  }
  if (kind === 'msquic' && body === '') return { kind: 'fixed', offset: 1, len: 4 };
  if (kind === 'mvfst' && body === '') return { kind: 'mvfst' };
  throw new UsageError(`bad CID spec '${spec}': expected quic-lb:sid=<1-15>[,nonce=<n>][,cr=<0-6>], fixed:offset=<n>,len=<n>, msquic or mvfst`);
}

export function formatSpec(s: CidSpec): string {
  if (s.kind === 'quic-lb') return `quic-lb:sid=${s.sid},nonce=${s.nonce}${s.cr ? `,cr=${s.cr}` : ''}`;
  if (s.kind === 'fixed') return s.offset === 1 && s.len === 4 ? 'msquic' : `fixed:offset=${s.offset},len=${s.len}`;
  return 'mvfst';
}

/** One VIP's layout from its specs: several QUIC-LB configs (distinct cr), or exactly one other. */
export function specsToVip(specs: CidSpec[], where: string): VipT {
  if (specs.length === 0) throw new UsageError(`${where}: needs a CID spec`);
  const lb = specs.filter((s): s is Extract<CidSpec, { kind: 'quic-lb' }> => s.kind === 'quic-lb');
  if (lb.length > 0) {
    if (lb.length !== specs.length) throw new UsageError(`${where}: quic-lb configs cannot be mixed with other layouts`);
    const confs: { sid_len: number; nonce_len: number; flags: number }[] = [];
    for (const s of lb) {
      if (confs[s.cr]) throw new UsageError(`${where}: two quic-lb configs with cr=${s.cr}`);
      confs[s.cr] = { sid_len: s.sid, nonce_len: s.nonce, flags: LbFlags.ENABLED };
    }
    return vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: confs });
  }
  if (specs.length > 1) throw new UsageError(`${where}: only quic-lb takes several configs`);
  const s = specs[0]!;
  if (s.kind === 'fixed') return vipValue({ cid_format: CidFormat.FIXED, sid_offset: s.offset, sid_len: s.len, dcid_len: s.offset + s.len });
  return vipValue({ cid_format: CidFormat.MVFST, dcid_len: MVFST_CID_LEN });
}

/** The specs a VIP value was made from (empty for a VIP without a layout). */
export function vipToSpecs(v: VipT): CidSpec[] {
  if (v.cid_format === CidFormat.QUIC_LB)
    return v.quic_lb.flatMap((c, cr) => (c.flags & LbFlags.ENABLED ? [{ kind: 'quic-lb' as const, sid: c.sid_len, nonce: c.nonce_len, cr }] : []));
  if (v.cid_format === CidFormat.FIXED) return [{ kind: 'fixed', offset: v.sid_offset, len: v.sid_len }];
  if (v.cid_format === CidFormat.MVFST) return [{ kind: 'mvfst' }];
  return [];
}

/** Server-ID lengths a layout can carry. */
export function sidLengths(specs: CidSpec[]): number[] {
  return [...new Set(specs.flatMap((s) => (s.kind === 'quic-lb' ? [s.sid] : s.kind === 'fixed' ? [s.len] : MVFST_SID_LENS)))].sort((a, b) => a - b);
}
