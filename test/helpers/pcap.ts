export * from '../../src/lab/pcap.js';
