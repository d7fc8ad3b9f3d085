// The addon's contract without privileges: TypeErrors for wrong types, Errors with code/errno for failures,
// use after close throws, and nothing crashes the process.
import test from 'ava';
import { tempDir } from '../helpers/tmp.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { native, isNativeError } from '../../src/bpf/native.js';
import { ObjectSpec, ClosedError } from '../../src/bpf/index.js';
import { BPF_OBJ } from '../helpers/env.js';

const n = native();

test('exposes libbpf version and constants', (t) => {
  t.regex(n.libbpfVersion, /^1\.\d+$/);
  t.is(n.constants.BPF_XDP, 37);
  t.is(n.constants.XDP_FLAGS_SKB_MODE, 2);
  t.is(n.constants.XDP_FLAGS_DRV_MODE, 4);
  t.true(n.numPossibleCpus() >= 1);
});

const wrongTypes: [string, () => unknown][] = [
  ['close("3")', () => n.close('3' as unknown as number)],
  ['close(-1)', () => n.close(-1)],
  ['close(1.5)', () => n.close(1.5)],
  ['dup()', () => (n.dup as unknown as () => number)()],
  ['objGet(42)', () => n.objGet(42 as unknown as string)],
  ['objPin(3, null)', () => n.objPin(3, null as unknown as string)],
  ['objGet with NUL', () => n.objGet('/sys/fs/bpf/a\0b')],
  ['mapLookup(fd, "key")', () => n.mapLookup(3, 'key' as unknown as Buffer, 0)],
  ['mapLookup(fd, key, "0")', () => n.mapLookup(3, Buffer.alloc(4), '0' as unknown as number)],
  ['mapUpdate(fd, key, [])', () => n.mapUpdate(3, Buffer.alloc(4), [] as unknown as Buffer, 0)],
  ['mapDelete({}, key)', () => n.mapDelete({} as unknown as number, Buffer.alloc(4))],
  ['mapGetNextKey(fd, 7)', () => n.mapGetNextKey(3, 7 as unknown as Buffer)],
  ['mapLookupBatch(fd, null, "x")', () => n.mapLookupBatch(3, null, 'x' as unknown as number)],
  ['mapUpdateBatch(fd, 1, 2, 0)', () => n.mapUpdateBatch(3, 1 as unknown as Buffer, 2 as unknown as Buffer, 0)],
  ['linkCreate("a", 1, 37, 0)', () => n.linkCreate('a' as unknown as number, 1, 37, 0)],
  ['linkUpdate(3, 4, "opts")', () => n.linkUpdate(3, 4, 'opts' as unknown as object)],
  ['linkUpdate(3, 4, {oldProgFd: "x"})', () => n.linkUpdate(3, 4, { oldProgFd: 'x' as unknown as number })],
  ['progTestRun(3, {dataIn: "x"})', () => n.progTestRun(3, { dataIn: 'x' as unknown as Buffer })],
  ['progTestRun(3, [])', () => n.progTestRun(3, [] as unknown as object)],
  ['progTestRun(3, {repeat: 1.5})', () => n.progTestRun(3, { repeat: 1.5 })],
  ['ifNameToIndex(1)', () => n.ifNameToIndex(1 as unknown as string)],
  ['netnsSet("x")', () => n.netnsSet('x' as unknown as number)],
  ['setDebug(1)', () => n.setDebug(1 as unknown as boolean)],
  ['getFdById("prog", "1")', () => n.getFdById('prog', '1' as unknown as number)],
  ['new BpfObject(5)', () => new n.BpfObject(5 as unknown as string)],
  ['new BpfObject(path, 5)', () => new n.BpfObject(BPF_OBJ, 5 as unknown as object)],
  ['new BpfObject(path, {pinRootPath: 1})', () => new n.BpfObject(BPF_OBJ, { pinRootPath: 1 as unknown as string })],
];
for (const [name, call] of wrongTypes) {
  test(`wrong argument type: ${name} throws TypeError or RangeError`, (t) => {
    const e = t.throws(call);
    t.true(e instanceof TypeError || e instanceof RangeError, `${e?.constructor.name}: ${e?.message}`);
  });
}

test('out-of-range values are RangeErrors', (t) => {
  t.throws(() => n.getFdById('prog', 0), { instanceOf: RangeError });
  t.throws(() => n.getFdById('thing' as 'prog', 1), { instanceOf: RangeError });
  t.throws(() => n.linkCreate(3, 0, 37, 0), { instanceOf: RangeError });
  t.throws(() => n.close(2 ** 31), { instanceOf: RangeError });
});

test('a bad fd is an Error with code, errno and the call that failed', (t) => {
  const e = t.throws(() => n.mapLookup(987654, Buffer.alloc(4), 0));
  t.true(isNativeError(e));
  // kernels before 6.12 say EBADF here, later ones EBADFD
  t.true(['EBADF', 'EBADFD'].includes((e as unknown as { code: string }).code));
  t.true([9, 77].includes((e as unknown as { errno: number }).errno));
  t.regex(e!.message, /^bpf_obj_get_info_by_fd: .* \(EBADFD?\)$/);
});

test('an fd that is not a map is refused, not read into a wrong-size buffer', (t) => {
  const fd = n.netnsOpen('/proc/self/ns/net');
  try {
    const e = t.throws(() => n.mapLookup(fd, Buffer.alloc(4), 0));
    t.true(isNativeError(e));
  } finally {
    n.close(fd);
  }
});

test('opening a missing file: ENOENT with the path and libbpf log', (t) => {
  const e = t.throws(() => new n.BpfObject('/nonexistent/x.bpf.o'));
  t.true(isNativeError(e));
  t.like(e as object, { code: 'ENOENT', errno: 2 });
  t.regex(e!.message, /\/nonexistent\/x\.bpf\.o/);
  t.regex((e as unknown as { log: string }).log, /failed to open/);
});

test('opening a file that is not ELF fails with a libbpf error code', (t) => {
  const dir = tempDir('qs-addon');
  const f = path.join(dir, 'junk.o');
  writeFileSync(f, 'not an elf file at all');
  const e = t.throws(() => new n.BpfObject(f));
  t.true(isNativeError(e));
  t.regex((e as unknown as { code: string }).code, /^(LIBBPF_ERRNO__\w+|E[A-Z]+)$/);
});

test('object inspection works without privileges; use after close throws', (t) => {
  const spec = ObjectSpec.open(BPF_OBJ);
  t.deepEqual(spec.programs().map((p) => [p.name, p.section]), [['quicsteer_xdp', 'xdp']]);
  t.deepEqual(spec.maps().filter((m) => !m.internal).map((m) => m.name).sort(), ['qs_config', 'qs_gquic_ring', 'qs_gquic_stats', 'qs_keys', 'qs_lb_cache', 'qs_lb_decrypts', 'qs_live', 'qs_peers', 'qs_server_stats', 'qs_servers', 'qs_stats', 'qs_sync', 'qs_tx_ports', 'qs_vips']);
  // the AES tables (bpf/aes_table.h): libbpf's read-only map of the object's constants
  t.deepEqual(spec.maps().filter((m) => m.internal).map((m) => m.name), ['quicstee.rodata']);
  const e = t.throws(() => spec.setMapPinPath('no_such_map', '/x'));
  t.like(e as object, { code: 'ENOENT' });
  spec.close();
  spec.close(); // idempotent
  t.true(spec.closed);
  t.throws(() => spec.maps(), { instanceOf: ClosedError, code: 'ERR_BPF_CLOSED' } as object);

  const raw = new n.BpfObject(BPF_OBJ);
  raw.close();
  t.throws(() => raw.programs(), { code: 'ERR_BPF_CLOSED' } as object);
  t.throws(() => raw.load(), { code: 'ERR_BPF_CLOSED' } as object);
});

test('debug logging can be switched on and off', (t) => {
  n.setDebug(true);
  new n.BpfObject(BPF_OBJ).close();
  t.regex(n.lastLog(), /libbpf: /);
  n.setDebug(false);
  new n.BpfObject(BPF_OBJ).close();
  t.is(n.lastLog(), '');
});
