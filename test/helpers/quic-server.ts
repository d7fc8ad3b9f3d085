export * from '../../src/lab/quic.js';
