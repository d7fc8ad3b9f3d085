// The TS mirrors of the structs shared with the XDP program must match the built object's BTF exactly.
import test from 'ava';
import { Btf, compareEnum, compareStruct } from '../helpers/btf.js';
import { BPF_OBJ, BPF_KFUNC_OBJ } from '../helpers/env.js';
import { CryptoOp, GQUIC_REASON_SLOTS, GquicForms, KFUNC_STRUCTS, SHARED_STRUCTS, Reasons, REASON_MAX, VipKey } from '../../src/bpf/layout.js';
import { be16, bytes, struct, u8 } from '../../src/bpf/codec.js';

const btf = Btf.fromObject(BPF_OBJ);

for (const s of SHARED_STRUCTS) {
  test(`struct ${s.name} matches BTF (size ${s.size})`, (t) => {
    t.deepEqual(compareStruct(s, btf), []);
  });
}

// the kfunc object is the same program plus the syscall program's argument
const kfuncBtf = Btf.fromObject(BPF_KFUNC_OBJ);
for (const s of [...SHARED_STRUCTS, ...KFUNC_STRUCTS]) {
  test(`struct ${s.name} matches the kfunc object's BTF`, (t) => {
    t.deepEqual(compareStruct(s, kfuncBtf), []);
  });
}

test('enum qs_crypto_op matches the kfunc object\'s BTF', (t) => {
  t.deepEqual(compareEnum('qs_crypto_op', { QS_CRYPTO_SET: CryptoOp.SET, QS_CRYPTO_CLEAR: CryptoOp.CLEAR }, kfuncBtf), []);
});

test('enum qs_reason matches BTF', (t) => {
  const values = Object.fromEntries([...Reasons.map((r, i) => [`QS_R_${r}`, i]), ['QS_R_MAX', REASON_MAX]]);
  t.deepEqual(compareEnum('qs_reason', values, btf), []);
});

test('enum qs_gquic_form matches BTF, and every reason fits its counter slots', (t) => {
  const values = Object.fromEntries([...GquicForms.map((f, i) => [`QS_GQ_${f}`, i]), ['QS_GQ_FORMS', GquicForms.length], ['QS_GQ_NONE', 0xff]]);
  t.deepEqual(compareEnum('qs_gquic_form', values, btf), []);
  t.true(REASON_MAX <= GQUIC_REASON_SLOTS);
});

// Controls: the check must catch each kind of drift.
test('control: a field moved in TS is caught', (t) => {
  const drifted = struct('qs_vip_key', { addr: bytes(16), family: u8, pad: u8, port: be16 });
  const errs = compareStruct(drifted, btf);
  t.true(errs.some((e) => e.includes('members')));
  t.true(errs.some((e) => e.includes('qs_vip_key.port: offset 18 in TS, 16 in BTF')));
});

test('control: a size change in the C struct is caught', (t) => {
  const grown = new Btf([...btf.types.values()].map((ty) => (ty.kind === 'STRUCT' && ty.name === 'qs_vip_key' ? { ...ty, size: 24 } : ty)));
  t.deepEqual(compareStruct(VipKey, grown), ['struct qs_vip_key: size 20 in TS, 24 in BTF']);
});

test('control: a renumbered enum value is caught', (t) => {
  const values = Object.fromEntries([...Reasons.map((r, i) => [`QS_R_${r}`, i + 1]), ['QS_R_MAX', REASON_MAX]]);
  t.true(compareEnum('qs_reason', values, btf).length >= Reasons.length);
});

test('control: a struct missing from BTF is caught', (t) => {
  t.deepEqual(compareStruct(struct('qs_nonexistent', { a: u8 }), btf), ['struct qs_nonexistent: not in the object\'s BTF']);
});
