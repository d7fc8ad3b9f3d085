export * from '../../src/lab/tmp.js';
