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
