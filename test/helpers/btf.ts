// Reads a BPF object's BTF (bpftool -j) and compares TS struct mirrors with it: sizes, names, offsets.
import { execFileSync } from 'node:child_process';
import type { StructCodec } from '../../src/bpf/codec.js';

export interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
  bitfield_size?: number;
}

export interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
  values?: { name: string; val: number }[];
}

export class Btf {
  readonly types: Map<number, BtfType>;

  constructor(types: BtfType[]) {
    this.types = new Map(types.map((t) => [t.id, t]));
  }

  static fromObject(path: string): Btf {
    const out = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', path], { encoding: 'utf8' });
    return new Btf((JSON.parse(out) as { types: BtfType[] }).types);
  }

  find(kind: string, name: string): BtfType | undefined {
    for (const t of this.types.values()) if (t.kind === kind && t.name === name) return t;
    return undefined;
  }

  /** Byte size of a type, through typedefs, qualifiers and arrays. */
  sizeOf(id: number): number {
    const t = this.types.get(id);
    if (!t) throw new Error(`BTF type ${id} missing`);
    switch (t.kind) {
      case 'TYPEDEF':
      case 'CONST':
      case 'VOLATILE':
      case 'RESTRICT':
        return this.sizeOf(t.type_id!);
      case 'ARRAY':
        return this.sizeOf(t.type_id!) * t.nr_elems!;
      case 'PTR':
        return 8;
      default:
        if (t.size === undefined) throw new Error(`BTF type ${id} (${t.kind}) has no size`);
        return t.size;
    }
  }
}

/** Every way a TS struct mirror disagrees with the BTF struct of the same name (empty = agree). */
export function compareStruct(codec: StructCodec<unknown>, btf: Btf): string[] {
  const s = btf.find('STRUCT', codec.name);
  if (!s) return [`struct ${codec.name}: not in the object's BTF`];
  const errs: string[] = [];
  if (s.size !== codec.size) errs.push(`struct ${codec.name}: size ${codec.size} in TS, ${s.size} in BTF`);
  const members = s.members ?? [];
  const names = (xs: readonly { name: string }[]) => xs.map((x) => x.name).join(', ');
  if (names(members) !== names(codec.fields))
    errs.push(`struct ${codec.name}: members [${names(codec.fields)}] in TS, [${names(members)}] in BTF`);
  for (const f of codec.fields) {
    const m = members.find((x) => x.name === f.name);
    if (!m) continue;
    if (m.bitfield_size) errs.push(`struct ${codec.name}.${f.name}: bitfield in BTF, not mirrored`);
    if (m.bits_offset !== f.offset * 8) errs.push(`struct ${codec.name}.${f.name}: offset ${f.offset} in TS, ${m.bits_offset / 8} in BTF`);
    const size = btf.sizeOf(m.type_id);
    if (size !== f.size) errs.push(`struct ${codec.name}.${f.name}: size ${f.size} in TS, ${size} in BTF`);
  }
  return errs;
}

/** Every way a TS enum mirror disagrees with the BTF enum of the same name. */
export function compareEnum(name: string, values: Record<string, number>, btf: Btf): string[] {
  const e = btf.find('ENUM', name);
  if (!e) return [`enum ${name}: not in the object's BTF`];
  const have = Object.fromEntries((e.values ?? []).map((v) => [v.name, v.val]));
  const errs: string[] = [];
  for (const [k, v] of Object.entries(values)) if (have[k] !== v) errs.push(`enum ${name}.${k}: ${v} in TS, ${have[k] ?? 'absent'} in BTF`);
  for (const k of Object.keys(have)) if (!(k in values)) errs.push(`enum ${name}.${k}: in BTF, not in TS`);
  return errs;
}
