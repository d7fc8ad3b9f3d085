// A minimal reader of raw BTF (the kernel's /sys/kernel/btf/vmlinux): which functions it declares, to probe for kfuncs.
import { readFileSync } from 'node:fs';

const BTF_MAGIC = 0xeb9f;
const KIND_FUNC = 12;

/**
 * Which of `names` a raw BTF blob declares as functions. A FUNC record is a 4-byte-aligned run of
 * its name's offset in the string section, then its info word (kind 12 in bits 24..28): the type
 * section is scanned as 32-bit words for that pair rather than walked type by type (vmlinux has
 * some 150,000 types; the walk cost `status` about 10 ms, the scan about 1). Throws on a blob that
 * is not BTF or is cut short.
 */
export function btfFuncs(buf: Buffer, names: string[]): Set<string> {
  if (buf.length < 24 || buf.readUInt16LE(0) !== BTF_MAGIC) throw new Error('not little-endian raw BTF');
  const hdrLen = buf.readUInt32LE(4);
  const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((o) => buf.readUInt32LE(o)) as [number, number, number, number];
  const types = hdrLen + typeOff;
  const strs = hdrLen + strOff;
  if (types + typeLen > buf.length || strs + strLen > buf.length) throw new Error('BTF sections run past the end');
  // the names' offsets in the string section (a name is stored once, normally)
  const wanted = new Map<number, string>();
  for (const n of names) {
    const needle = Buffer.from(`\0${n}\0`, 'latin1');
    for (let at = buf.indexOf(needle, strs); at >= 0 && at < strs + strLen; at = buf.indexOf(needle, at + 1)) wanted.set(at + 1 - strs, n);
  }
  const out = new Set<string>();
  if (wanted.size === 0) return out;
  // an aligned copy when the section is not aligned in the buffer (a typed array view needs it)
  const sec = (buf.byteOffset + types) % 4 === 0 ? buf : Buffer.from(buf.subarray(types, types + typeLen));
  const w = new Uint32Array(sec.buffer, sec.byteOffset + (sec === buf ? types : 0), typeLen >>> 2);
  // the info word first: few words have kind FUNC in bits 24..28, so the name lookup is rare
  for (let i = 1; i < w.length; i++) {
    if (((w[i]! >>> 24) & 0x1f) !== KIND_FUNC) continue;
    const n = wanted.get(w[i - 1]!);
    if (n !== undefined) out.add(n);
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
