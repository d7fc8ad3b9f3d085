// Where things are and who runs: shared by tests and the benchmark (no ava import here).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const isRoot = process.getuid?.() === 0;
export const inCI = process.env.CI === 'true';

/** The checkout's root (this file runs from build/dist/test/helpers). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const BPF_OBJ = path.join(ROOT, 'build/bpf/quicsteer.bpf.o');
export const TEST_OBJ = path.join(ROOT, 'build/bpf/test_xdp.bpf.o');
export const AES_OBJ = path.join(ROOT, 'build/bpf/aes_block.bpf.o');
/** The program built with the kfunc AES (clang-19), and the test program that runs one block through it. */
export const BPF_KFUNC_OBJ = path.join(ROOT, 'build/bpf/quicsteer_kfunc.bpf.o');
export const TEST_AES_KFUNC_OBJ = path.join(ROOT, 'build/bpf/test_aes_kfunc.bpf.o');
