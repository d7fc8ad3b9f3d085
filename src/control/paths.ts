// Where the built BPF object is, from the running code (build/dist/src/control -> build/bpf).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BPF_OBJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bpf/quicsteer.bpf.o');
