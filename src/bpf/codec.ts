// Binary codecs that lay out C structs by the C rules (natural alignment), so TS mirrors match BTF.

/** Encodes a value into / decodes it from a fixed-size region of a buffer. */
export interface Codec<T> {
  readonly size: number;
  readonly align: number;
  /** C type name as BTF spells it (e.g. "__u32", "qs_vip_key"), for the layout check. */
  readonly cType: string;
  write(buf: Buffer, offset: number, value: T): void;
  read(buf: Buffer, offset: number): T;
}

function scalar<T>(cType: string, size: number, write: (b: Buffer, o: number, v: T) => void, read: (b: Buffer, o: number) => T): Codec<T> {
  return { size, align: size, cType, write, read };
}

function checkUint(v: number, bits: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new RangeError(`${what} must be an integer in 0..${2 ** bits - 1}, got ${v}`);
  return v;
}

export const u8 = scalar<number>('__u8', 1, (b, o, v) => b.writeUInt8(checkUint(v, 8, 'u8'), o), (b, o) => b.readUInt8(o));
export const u16 = scalar<number>('__u16', 2, (b, o, v) => b.writeUInt16LE(checkUint(v, 16, 'u16'), o), (b, o) => b.readUInt16LE(o));
export const u32 = scalar<number>('__u32', 4, (b, o, v) => b.writeUInt32LE(checkUint(v, 32, 'u32'), o), (b, o) => b.readUInt32LE(o));
export const s32 = scalar<number>('__s32', 4, (b, o, v) => b.writeInt32LE(v, o), (b, o) => b.readInt32LE(o));
export const u64 = scalar<bigint>('__u64', 8, (b, o, v) => b.writeBigUInt64LE(v, o), (b, o) => b.readBigUInt64LE(o));
/** Network byte order (__be16 / __be32): the value is the host number, stored big-endian. */
export const be16 = scalar<number>('__be16', 2, (b, o, v) => b.writeUInt16BE(checkUint(v, 16, 'be16'), o), (b, o) => b.readUInt16BE(o));
export const be32 = scalar<number>('__be32', 4, (b, o, v) => b.writeUInt32BE(checkUint(v, 32, 'be32'), o), (b, o) => b.readUInt32BE(o));

/** A fixed-length byte array (__u8 x[n]); shorter input is zero-padded, longer is an error. */
export function bytes(length: number): Codec<Buffer> {
  return {
    size: length,
    align: 1,
    cType: `__u8[${length}]`,
    write(b, o, v) {
      if (v.length > length) throw new RangeError(`byte array holds ${length} bytes, got ${v.length}`);
      b.fill(0, o, o + length);
      v.copy(b, o);
    },
    read: (b, o) => Buffer.from(b.subarray(o, o + length)),
  };
}

/** A fixed-length array of another codec's values (T x[n]). */
export function array<T>(item: Codec<T>, length: number): Codec<T[]> {
  return {
    size: item.size * length,
    align: item.align,
    cType: `${item.cType}[${length}]`,
    write(b, o, v) {
      if (v.length !== length) throw new RangeError(`array holds exactly ${length} items, got ${v.length}`);
      v.forEach((x, i) => item.write(b, o + i * item.size, x));
    },
    read: (b, o) => Array.from({ length }, (_, i) => item.read(b, o + i * item.size)),
  };
}

// Method-style write() keeps Codec<T> assignable to Codec<unknown>, so field types stay inferred.
type Fields = Record<string, Codec<unknown>>;
export type Infer<F extends Fields> = { [K in keyof F]: F[K] extends Codec<infer V> ? V : never };

export interface FieldLayout {
  name: string;
  offset: number;
  size: number;
  cType: string;
}

/** The JS value type a codec reads and writes. */
export type ValueOf<C> = C extends Codec<infer T> ? T : never;

/** A C struct: fields in declaration order at their C offsets. */
export interface StructCodec<T> extends Codec<T> {
  readonly name: string;
  readonly fields: readonly FieldLayout[];
  encode(value: T): Buffer;
  decode(buf: Buffer, offset?: number): T;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

export function struct<F extends Fields>(name: string, fields: F): StructCodec<Infer<F>> {
  const layout: (FieldLayout & { codec: Codec<unknown> })[] = [];
  let offset = 0;
  let maxAlign = 1;
  for (const [field, codec] of Object.entries(fields)) {
    offset = align(offset, codec.align);
    layout.push({ name: field, offset, size: codec.size, cType: codec.cType, codec });
    offset += codec.size;
    maxAlign = Math.max(maxAlign, codec.align);
  }
  const size = align(offset, maxAlign);
  const self: StructCodec<Infer<F>> = {
    name,
    size,
    align: maxAlign,
    cType: name,
    fields: layout.map(({ name: n, offset: o, size: s, cType }) => ({ name: n, offset: o, size: s, cType })),
    write(b, o, v) {
      b.fill(0, o, o + size);
      for (const f of layout) {
        const x = (v as Record<string, unknown>)[f.name];
        if (x === undefined) throw new TypeError(`${name}.${f.name} is missing`);
        f.codec.write(b, o + f.offset, x);
      }
    },
    read(b, o) {
      if (b.length - o < size) throw new RangeError(`${name} needs ${size} bytes, got ${b.length - o}`);
      const out: Record<string, unknown> = {};
      for (const f of layout) out[f.name] = f.codec.read(b, o + f.offset);
      return out as Infer<F>;
    },
    encode(v) {
      const b = Buffer.alloc(size);
      self.write(b, 0, v);
      return b;
    },
    decode: (b, o = 0) => self.read(b, o),
  };
  return self;
}

/** Codec for a bare scalar used as a whole map key or value (e.g. an array map's __u32 index). */
export function whole<T>(codec: Codec<T>): StructCodec<T> {
  const self: StructCodec<T> = {
    ...codec,
    name: codec.cType,
    fields: [],
    encode(v) {
      const b = Buffer.alloc(codec.size);
      codec.write(b, 0, v);
      return b;
    },
    decode: (b, o = 0) => codec.read(b, o),
  };
  return self;
}

/** Untyped bytes of a given size: the codec of a map opened without a layout. */
export function raw(size: number): StructCodec<Buffer> {
  return whole(bytes(size));
}
