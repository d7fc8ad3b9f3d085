// The test vectors of draft-ietf-quic-load-balancers-21 (appendix B), for every test that encodes QUIC-LB CIDs.

/** The draft's key for the encrypted vectors. */
export const VECTOR_KEY = '8f95f09245765f80256934e50c66207f';

/** The first plaintext row (the second is misprinted: test/unit/quic-lb.test.ts says how). */
export const PLAINTEXT_VECTOR = { cr: 0, sid: 'c4605e', nonce: '4504cc4f', cid: '07c4605e4504cc4f' };

/**
 * The draft's encrypted vectors: cr, sid, nonce -> cid, and the AES operations a load balancer
 * needs. The last row is printed with cr 3, but its first octet (0x12) encodes config rotation 0:
 * a typo in the draft; the CID is right for cr 0, and that is how it is checked here.
 */
export const ENCRYPTED_VECTORS: { cr: number; sid: string; nonce: string; cid: string; passes: number }[] = [
  { cr: 0, sid: 'ed793a', nonce: 'ee080dbf', cid: '0720b1d07b359d3c', passes: 3 },
  { cr: 1, sid: 'ed793a51d49b8f5fab65', nonce: 'ee080dbf48', cid: '2fcc381bc74cb4fbad2823a3d1f8fed2', passes: 4 },
  { cr: 2, sid: 'ed793a51d49b8f5f', nonce: 'ee080dbf48c0d1e5', cid: '504dd2d05a7b0de9b2b9907afb5ecf8cc3', passes: 1 },
  { cr: 0, sid: 'ed793a51d49b8f5fab', nonce: 'ee080dbf48c0d1e55d', cid: '125779c9cc86beb3a3a4a3ca96fce4bfe0cdbc', passes: 3 },
];
