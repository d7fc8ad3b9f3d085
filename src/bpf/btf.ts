// A minimal reader of raw BTF (the kernel's /sys/kernel/btf/vmlinux): which functions it declares, to probe for kfuncs.
import { readFileSync } from 'node:fs';

const BTF_MAGIC = 0xeb9f;
const KIND = { FUNC: 12 } as const;

/** Bytes that follow a type's 12-byte header, by kind (include/uapi/linux/btf.h); undefined: a kind this reader does not know. */
function extraSize(kind: number, vlen: number): number | undefined {
  switch (kind) {
    case 1: // INT
    case 14: // VAR
    case 17: // DECL_TAG
      return 4;
    case 2: // PTR
    case 7: // FWD
    case 8: // TYPEDEF
    case 9: // VOLATILE
    case 10: // CONST
    case 11: // RESTRICT
    case 12: // FUNC
    case 16: // FLOAT
    case 18: // TYPE_TAG
      return 0;
    case 3: // ARRAY
      return 12;
    case 4: // STRUCT
    case 5: // UNION
    case 15: // DATASEC
    case 19: // ENUM64
      return vlen * 12;
    case 6: // ENUM
    case 13: // FUNC_PROTO
      return vlen * 8;
    default:
      return undefined;
  }
}

/**
 * Which of `names` a raw BTF blob declares as functions. Throws on a blob that is not BTF (or is
 * cut short), and on a type kind newer than this reader: the caller decides what that means.
 */
export function btfFuncs(buf: Buffer, names: string[]): Set<string> {
  if (buf.length < 24 || buf.readUInt16LE(0) !== BTF_MAGIC) throw new Error('not little-endian raw BTF');
  const hdrLen = buf.readUInt32LE(4);
  const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((o) => buf.readUInt32LE(o)) as [number, number, number, number];
  const types = hdrLen + typeOff;
  const strs = hdrLen + strOff;
  if (types + typeLen > buf.length || strs + strLen > buf.length) throw new Error('BTF sections run past the end');
  // the names' offsets in the string section (a name is stored once): then types compare numbers
  const wanted = new Map<number, string>();
  for (const n of names) {
    const needle = Buffer.from(`\0${n}\0`, 'latin1');
    for (let at = buf.indexOf(needle, strs); at >= 0 && at < strs + strLen; at = buf.indexOf(needle, at + 1)) wanted.set(at + 1 - strs, n);
  }
  const out = new Set<string>();
  if (wanted.size === 0) return out;
  for (let at = types; at < types + typeLen; ) {
    const info = buf.readUInt32LE(at + 4);
    const kind = (info >>> 24) & 0x1f;
    const extra = extraSize(kind, info & 0xffff);
    if (extra === undefined) throw new Error(`BTF type kind ${kind} is unknown to this reader`);
    if (kind === KIND.FUNC) {
      const n = wanted.get(buf.readUInt32LE(at));
      if (n !== undefined) out.add(n);
    }
    at += 12 + extra;
  }
  return out;
}

/** Whether the kernel's BTF declares every one of `names` as a function (false when there is no vmlinux BTF). */
export function kernelHasFuncs(names: string[], path = '/sys/kernel/btf/vmlinux'): boolean {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return false;
  }
  const found = btfFuncs(buf, names);
  return names.every((n) => found.has(n));
}
