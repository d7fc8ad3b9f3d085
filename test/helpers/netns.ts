export * from '../../src/lab/netns.js';
