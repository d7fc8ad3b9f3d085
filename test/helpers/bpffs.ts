export * from '../../src/lab/bpffs.js';
