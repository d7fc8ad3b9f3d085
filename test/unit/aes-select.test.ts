// Choosing the AES implementation (--aes), and the probes it rests on: the kernel's BTF, /proc/crypto.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { resolveAes } from '../../src/control/aes.js';
import { RuntimeError } from '../../src/control/errors.js';
import { btfFuncs } from '../../src/bpf/btf.js';
import { cipherDriver, kernelHasCryptoKfuncs, CRYPTO_KFUNCS } from '../../src/datapath/crypto.js';

const withKfuncs = () => ({ kfuncs: true, driver: 'ecb(aes-fixed-time)' });
const without = () => ({ kfuncs: false, driver: null });

test('auto and table are the table implementation on any kernel; kfunc where the kernel has the kfuncs', (t) => {
  for (const probe of [withKfuncs, without]) {
    t.is(resolveAes('auto', probe), 'table');
    t.is(resolveAes('table', probe), 'table');
  }
  t.is(resolveAes('kfunc', withKfuncs), 'kfunc');
});

test('kfunc on a kernel without the kfuncs is refused: exit 1, naming the kernel and what to use instead', (t) => {
  const e = t.throws(() => resolveAes('kfunc', without), { instanceOf: RuntimeError });
  t.is(e!.exitCode, 1);
  t.regex(e!.message, /^--aes kfunc: this kernel \(.+\) has no BPF crypto kfuncs \(bpf_crypto_decrypt needs Linux >= 6\.10\): use --aes table, or auto$/);
});

test('auto and table never probe the kernel (the 6.1 path touches nothing of the kfunc object)', (t) => {
  const probe = () => {
    throw new Error('probed');
  };
  t.is(resolveAes('auto', probe), 'table');
  t.is(resolveAes('table', probe), 'table');
  t.throws(() => resolveAes('kfunc', probe), { message: 'probed' }, 'control: kfunc does probe');
});

// /proc/crypto as this host shows it (one entry per algorithm instance, blank-line separated)
const PROC_CRYPTO = `name         : aes
driver       : aes-generic
module       : kernel
priority     : 100
type         : cipher

name         : ecb(aes)
driver       : ecb(aes-fixed-time)
module       : kernel
priority     : 101
type         : lskcipher

name         : ecb(aes)
driver       : ecb-aes-aesni
module       : kernel
priority     : 400
type         : skcipher

name         : cbc(aes)
driver       : cbc-aes-aesni
priority     : 500
`;

test('/proc/crypto: the highest-priority ecb(aes) driver; none when it is not listed', (t) => {
  t.is(cipherDriver(PROC_CRYPTO), 'ecb-aes-aesni');
  t.is(cipherDriver(PROC_CRYPTO.replace('priority     : 400', 'priority     : 50')), 'ecb(aes-fixed-time)');
  t.is(cipherDriver(PROC_CRYPTO, 'ctr(aes)'), null);
  t.is(cipherDriver(''), null);
});

test('BTF: finds functions by name, and only functions', (t) => {
  const vmlinux = readFileSync('/sys/kernel/btf/vmlinux');
  const found = btfFuncs(vmlinux, ['bpf_xdp_load_bytes', 'bpf_prog_test_run_xdp', 'no_such_function_qs', 'sk_buff']);
  // bpf_xdp_load_bytes is a helper's kernel function on every kernel quicsteer supports; sk_buff is a struct, not a function
  t.true(found.has('bpf_xdp_load_bytes'));
  t.false(found.has('no_such_function_qs'));
  t.false(found.has('sk_buff'));
  t.throws(() => btfFuncs(Buffer.from('not btf at all, not at all'), ['x']), { message: /not little-endian raw BTF/ });
  // the probe agrees with /proc/kallsyms (whose names need no privilege)
  const syms = new Set(readFileSync('/proc/kallsyms', 'utf8').split('\n').map((l) => l.split(' ')[2]));
  t.is(kernelHasCryptoKfuncs(), CRYPTO_KFUNCS.every((f) => syms.has(f)));
});
