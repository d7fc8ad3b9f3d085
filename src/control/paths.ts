// Where the built BPF objects are, from the running code (build/dist/src/control -> build/bpf).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BPF_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bpf');
/** The program with the table AES (every supported kernel). */
export const BPF_OBJECT = path.join(BPF_DIR, 'quicsteer.bpf.o');
/** The same program with the kernel's AES through the BPF crypto kfuncs (Linux >= 6.10; built by clang-19). */
export const BPF_KFUNC_OBJECT = path.join(BPF_DIR, 'quicsteer_kfunc.bpf.o');
