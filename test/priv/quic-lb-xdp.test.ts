// Encrypted QUIC-LB through the real XDP program (BPF_PROG_TEST_RUN): the BPF AES against node:crypto,
// the draft-21 vectors byte for byte, their controls, and the per-CPU decrypt-once cache; the program
// tests run on both AES implementations (the table object, and the kfunc one: the kernel's ecb(aes)).
import type { ExecutionContext } from 'ava';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ObjectSpec, XdpAction } from '../../src/bpf/index.js';
import { u32, whole, type ValueOf } from '../../src/bpf/codec.js';
import { CidFormat, HASH_A, HASH_B, LB_CACHE_SLOTS, LbCacheEntry, LbFlags, LbKey, Live } from '../../src/bpf/layout.js';
import { expandKey } from '../../src/quic/aes.js';
import { encodeCid } from '../../src/quic/quic-lb.js';
import { serverValue, vipValue } from '../../src/datapath/tables.js';
import { AES_OBJ, BPF_OBJ, BPF_KFUNC_OBJ, privilegedSerial } from '../helpers/env.js';
import { inVm } from '../helpers/vm.js';
import { kernelHasCryptoKfuncs } from '../../src/datapath/crypto.js';
import { Rng } from '../helpers/fuzz.js';
import { frame, longHeader, shortHeader, withMacs, MAC_SELF } from '../helpers/frames.js';
import { Harness, CLIENT4, VIP4, type World } from '../helpers/world.js';

const hex = (h: string) => Buffer.from(h, 'hex');
const ENC = LbFlags.ENABLED | LbFlags.ENCRYPTED;
type Entry = ValueOf<typeof LbCacheEntry>;

// draft-ietf-quic-load-balancers-21, appendix B: key, then (cr, server ID, nonce -> CID) rows.
const DRAFT_KEY = hex('8f95f09245765f80256934e50c66207f');
const ROWS = [
  { cr: 0, sid: 'ed793a', nonce: 'ee080dbf', cid: '0720b1d07b359d3c', passes: '3 AES passes' },
  { cr: 1, sid: 'ed793a51d49b8f5fab65', nonce: 'ee080dbf48', cid: '2fcc381bc74cb4fbad2823a3d1f8fed2', passes: '4 AES passes' },
  { cr: 2, sid: 'ed793a51d49b8f5f', nonce: 'ee080dbf48c0d1e5', cid: '504dd2d05a7b0de9b2b9907afb5ecf8cc3', passes: 'single pass' },
  // The row says cr 3, but its first octet 0x12 carries config rotation 0 (length 19 self-encoded):
  // a typo, as the first octet is no input to the encryption. Read here both ways: at cr 3 with the
  // octet's top bits set to 3 (0x72, the rest byte for byte), and byte for byte at cr 0 of a VIP
  // whose config 0 has this row's lengths.
  { cr: 3, sid: 'ed793a51d49b8f5fab', nonce: 'ee080dbf48c0d1e55d', cid: '125779c9cc86beb3a3a4a3ca96fce4bfe0cdbc', passes: '3 AES passes, odd length' },
];
// The draft's worked example of the 4-pass algorithm: another key, 3-octet ID, 4-octet nonce.
const EXAMPLE = { key: hex('fdf726a9893ec05c0632d3956680baf0'), sid: '31441a', nonce: '9c69c275', cid: '0767947d29be054a' };

const PORT_ROWS = 443;
const PORT_ROW3_CR0 = 4431;
const PORT_EXAMPLE = 4432;
const ownerMac = (i: number) => Buffer.from([2, 0, 0, 0, 0x1b, i]);

/** The vectors' world: a VIP whose configs are the rows', two more for row 3 at cr 0 and the worked example. */
function vectorWorld(o: { key?: Buffer; flags?: number } = {}): World {
  const key = o.key ?? DRAFT_KEY;
  const flags = o.flags ?? ENC;
  const conf = (r: (typeof ROWS)[number]) => ({ sid_len: r.sid.length / 2, nonce_len: r.nonce.length / 2, flags, key });
  return {
    vips: [
      { ip: VIP4, port: PORT_ROWS, vip: vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: ROWS.map(conf) }) },
      { ip: VIP4, port: PORT_ROW3_CR0, vip: vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: [conf(ROWS[3]!)] }) },
      { ip: VIP4, port: PORT_EXAMPLE, vip: vipValue({ cid_format: CidFormat.QUIC_LB, quic_lb: [{ sid_len: 3, nonce_len: 4, flags, key: o.key ?? EXAMPLE.key }] }) },
    ],
    servers: [...ROWS.map((r) => r.sid), EXAMPLE.sid].map((sid, i) => ({ sid, server: serverValue({ mac: ownerMac(i), slot: i }) })),
    localId: null,
    peers: [],
    txPorts: [],
  };
}

const toVip = (port: number, payload: Buffer) => frame({ ip: { v: 4, src: CLIENT4, dst: VIP4 }, udp: { sport: 50000, dport: port }, payload });

/** The CIDs under test, each with the owner index and where it is sent. */
function vectorCases(): { name: string; cid: Buffer; port: number; owner: number }[] {
  const out = ROWS.map((r, i) => {
    const cid = hex(r.cid);
    if (r.cr === 3) cid[0] = (3 << 5) | (cid[0]! & 0x1f);
    return { name: `row ${r.cr} (${r.passes})${r.cr === 3 ? ', first octet 0x72' : ''}`, cid, port: PORT_ROWS, owner: i };
  });
  out.push({ name: 'row 3 byte for byte (0x12: cr 0) at a VIP whose config 0 has its lengths', cid: hex(ROWS[3]!.cid), port: PORT_ROW3_CR0, owner: 3 });
  out.push({ name: 'worked example (key fdf7…baf0)', cid: hex(EXAMPLE.cid), port: PORT_EXAMPLE, owner: 4 });
  return out;
}

/** The frames of one CID: short header with a packet's worth after it, cut right after the CID, and a Handshake. */
function framesOf(cid: Buffer, port: number): [string, Buffer][] {
  return [
    ['short header', toVip(port, shortHeader(cid))],
    ['short header ending with the CID', toVip(port, shortHeader(cid, { rest: Buffer.alloc(0) }))],
    ['Handshake', toVip(port, longHeader({ version: 1, type: 'HANDSHAKE', dcid: cid }))],
  ];
}

/**
 * The two objects behind the same decoder; the kfunc one's titles say so (its contexts come with each
 * install). The VM tier runs this file on Debian 12's 6.1, which has no crypto kfuncs: there only the
 * table object (on the host both always run: a kernel without the kfuncs fails the kfunc ones).
 */
const IMPLS = [
  { obj: BPF_OBJ, title: '' },
  ...(inVm && !kernelHasCryptoKfuncs() ? [] : [{ obj: BPF_KFUNC_OBJ, title: ' (kfunc AES)' }]),
];
type Impl = (typeof IMPLS)[number];

function withHarness(impl: Impl, fn: (h: Harness) => void): void {
  const h = new Harness('qs-lb', impl.obj);
  try {
    fn(h);
  } finally {
    h.destroy();
  }
}

/** Runs f and checks it is steered by XDP_TX to mac, counted once under STEERED, and that the reference agrees. */
function steeredTo(t: ExecutionContext, h: Harness, f: Buffer, mac: Buffer, what: string): void {
  const before = h.reasonPacketsOf('STEERED');
  const r = h.run(f);
  t.is(r.action, XdpAction.TX, `${what}: verdict`);
  t.deepEqual(r.output, withMacs(f, mac, MAC_SELF), `${what}: output frame`);
  t.is(h.reasonPacketsOf('STEERED') - before, 1, `${what}: counted as steered`);
  t.deepEqual([h.reference(f).reason, h.reference(f).output], ['STEERED', r.output], `${what}: the reference agrees`);
}

const ecb = (key: Buffer, block: Buffer, decrypt: boolean) => {
  const c = decrypt ? createDecipheriv('aes-128-ecb', key, null) : createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
};

privilegedSerial('the BPF AES-128 (bpf/aes_table.h) equals node:crypto: FIPS-197 C.1 and 500 random keys and blocks, both ways', (t) => {
  const coll = ObjectSpec.open(AES_OBJ).load();
  try {
    const keys = coll.map('aes_keys', whole(u32), LbKey);
    const run = (prog: string, block: Buffer) => {
      // 8 bytes after the block: the program must leave them alone
      const r = coll.program(prog).testRun({ data: Buffer.concat([block, Buffer.alloc(8, 0xee)]) });
      t.is(r.retval, XdpAction.TX, prog);
      t.deepEqual(r.data.subarray(16), Buffer.alloc(8, 0xee), `${prog}: bytes after the block`);
      return r.data.subarray(0, 16);
    };
    const fips = { key: hex('000102030405060708090a0b0c0d0e0f'), plain: hex('00112233445566778899aabbccddeeff'), cipher: hex('69c4e0d86a7b0430d8cdb78070b4c55a') };
    keys.update(0, expandKey(fips.key));
    t.deepEqual(run('aes_encrypt_block', fips.plain), fips.cipher, 'FIPS-197 C.1 encrypt');
    t.deepEqual(run('aes_decrypt_block', fips.cipher), fips.plain, 'FIPS-197 C.1 decrypt');
    // control: the same copies without the cipher return the block unchanged
    t.deepEqual(run('aes_copy_block', fips.plain), fips.plain, 'copy only');

    const rng = new Rng(0xae5128);
    let wrong = 0;
    for (let i = 0; i < 500; i++) {
      const key = rng.bytes(16);
      const block = rng.bytes(16);
      keys.update(0, expandKey(key));
      if (!run('aes_encrypt_block', block).equals(ecb(key, block, false))) wrong++;
      if (!run('aes_decrypt_block', block).equals(ecb(key, block, true))) wrong++;
    }
    t.is(wrong, 0, 'blocks that differ from node:crypto');
  } finally {
    coll.close();
  }
});

for (const impl of IMPLS) {
  for (const c of vectorCases()) {
    privilegedSerial(`draft-21 vector through XDP: ${c.name} is steered to its owner${impl.title}`, (t) =>
      withHarness(impl, (h) => {
        h.install(vectorWorld());
        for (const [what, f] of framesOf(c.cid, c.port)) steeredTo(t, h, f, ownerMac(c.owner), what);
      }),
    );
  }
}

for (const impl of IMPLS) {
  privilegedSerial(`controls: row 3 as printed (cr 0) at the rows' VIP, and every vector under a wrong key, reach no owner${impl.title}`, (t) =>
    withHarness(impl, (h) => {
      const owners = new Set([0, 1, 2, 3, 4].map((i) => ownerMac(i).toString('hex')));
      const noOwner = (f: Buffer, what: string) => {
        const r = h.run(f);
        t.is(r.action, XdpAction.PASS, `${what}: verdict`);
        t.false(owners.has(r.output.subarray(0, 6).toString('hex')), `${what}: not an owner's MAC`);
        t.is(h.reference(f).reason, 'UNKNOWN_SERVER', `${what}: the reference finds no server either`);
      };
      h.install(vectorWorld());
      // config 0 of that VIP is row 0's (3 + 4 octets): the printed first octet sends row 3's CID there
      noOwner(toVip(PORT_ROWS, shortHeader(hex(ROWS[3]!.cid))), 'row 3 as printed');

      const wrongKey = Buffer.from(DRAFT_KEY);
      wrongKey[15]! ^= 0x01;
      h.install(vectorWorld({ key: wrongKey }));
      for (const c of vectorCases()) for (const [what, f] of framesOf(c.cid, c.port)) noOwner(f, `${c.name}, ${what}, wrong key`);
    }),
  );
}

for (const impl of IMPLS) {
  privilegedSerial(`control: a plaintext config of the same lengths reads the ciphertext octets as the server ID${impl.title}`, (t) =>
    withHarness(impl, (h) => {
      const w = vectorWorld({ flags: LbFlags.ENABLED });
      // each CID's ciphertext octets taken as an ID get an owner of their own: where the plaintext reading goes
      const sidLens = [...ROWS.map((r) => r.sid.length / 2), ROWS[3]!.sid.length / 2, EXAMPLE.sid.length / 2];
      const clear = vectorCases().map((c, i) => ({ ...c, sid: c.cid.subarray(1, 1 + sidLens[i]!).toString('hex') }));
      const macs = new Map([...new Set(clear.map((c) => c.sid))].map((sid, i) => [sid, ownerMac(0x40 + i)]));
      for (const [sid, mac] of macs) w.servers.push({ sid, server: serverValue({ mac, slot: 10 + w.servers.length }) });
      h.install(w);
      for (const c of clear) steeredTo(t, h, toVip(c.port, shortHeader(c.cid)), macs.get(c.sid)!, `${c.name} in clear`);
    }),
  );
}

/** The cache slot of encrypted octets, as lb_cache_slot() in bpf/quic_lb.h computes it. */
function cacheSlot(words: bigint[]): number {
  const m = (1n << 64n) - 1n;
  const h = (HASH_B + HASH_A[0]! * words[0]! + HASH_A[1]! * words[1]! + HASH_A[2]! * words[2]!) & m;
  return Number((h ^ (h >> 32n)) & 0xffffffffn) & (LB_CACHE_SLOTS - 1);
}

/** The encrypted octets as the cache holds them: three little-endian words, zero-padded. */
function ctWords(octets: Buffer): bigint[] {
  const b = Buffer.alloc(24);
  octets.copy(b);
  return [0, 8, 16].map((o) => b.readBigUInt64LE(o));
}

for (const impl of IMPLS) {
  privilegedSerial(`the decrypt-once cache: the first packet fills an entry, an identical one is served from it, an entry of another key slot, lengths, epoch or octets is not${impl.title}`, (t) =>
    withHarness(impl, (h) => {
      h.install(vectorWorld());
      const cache = h.coll.perCpuMap('qs_lb_cache', whole(u32), LbCacheEntry);
      const live = h.coll.map('qs_live', whole(u32), Live).lookup(0)!;
      const epoch = live.epoch[live.gen]!;
      const row = ROWS[0]!;
      const cid = hex(row.cid);
      const f = toVip(PORT_ROWS, shortHeader(cid));
      const ct = ctWords(cid.subarray(1));
      const slot = cacheSlot(ct);
      const tag = (0 << 16) | (3 << 8) | 4; // key slot 0 (the only key), sid 3, nonce 4

      t.false(cache.lookup(slot)!.some((e) => e.epoch !== 0n), 'the slot starts empty on every CPU');
      steeredTo(t, h, f, ownerMac(0), 'first packet (decrypted)');
      const filled = cache.lookup(slot)!.filter((e) => e.epoch !== 0n);
      t.is(filled.length, 1, 'one CPU ran it and filled the slot');
      const e = filled[0]!;
      t.is(e.epoch, epoch, "entry's epoch: the live generation's");
      t.is(e.tag, tag, "entry's tag: key slot << 16 | sid << 8 | nonce");
      t.deepEqual(e.ct, ct, "entry's octets");
      t.deepEqual([e.sid.len, e.sid.id.subarray(0, 3).toString('hex')], [3, row.sid], "entry's server ID");

      // the entry says RS of row 1 on every CPU: a packet served from the cache goes there, not to row 0's owner
      const rs1 = { len: 10, id: Buffer.concat([hex(ROWS[1]!.sid), Buffer.alloc(5)]) };
      const forged = (x: Partial<Entry>): Entry => ({ ...e, sid: rs1, ...x });
      cache.update(slot, forged({}));
      servedFromCache(t, h, f, ownerMac(1), ownerMac(0), 'identical packet');
      // controls: the same forged entry under another key slot, other lengths, another epoch or other octets is not used
      for (const [what, x] of [
        ['key slot 1', { tag: (1 << 16) | (3 << 8) | 4 }],
        ['nonce length 5', { tag: (3 << 8) | 5 }],
        ['the other epoch', { epoch: epoch + 1n }],
        ['another last octet', { ct: [ct[0]! ^ (1n << 48n), ct[1]!, ct[2]!] }],
      ] as [string, Partial<Entry>][]) {
        cache.update(slot, forged(x));
        steeredTo(t, h, f, ownerMac(0), `forged entry with ${what}: decrypted again`);
        t.true(cache.lookup(slot)!.some((y) => y.epoch === epoch && y.tag === tag && y.sid.len === 3), `${what}: the entry rewritten by the decryption`);
      }
    }),
  );
}

/** Steered to `mac` (the cache entry's server), where the reference, which has no cache, decrypts and finds `refMac`. */
function servedFromCache(t: ExecutionContext, h: Harness, f: Buffer, mac: Buffer, refMac: Buffer, what: string): void {
  const r = h.run(f);
  t.is(r.action, XdpAction.TX, `${what}: verdict`);
  t.deepEqual(r.output, withMacs(f, mac, MAC_SELF), `${what}: steered by the cache entry`);
  t.deepEqual(h.reference(f).output, withMacs(f, refMac, MAC_SELF), `${what}: the reference decrypts`);
}

for (const impl of IMPLS) {
  privilegedSerial(`the decrypt-once cache after a publish that changes the key: the old entry (old epoch) is not used, the packet decodes with the new key${impl.title}`, (t) =>
    withHarness(impl, (h) => {
      h.install(vectorWorld());
      const cache = h.coll.perCpuMap('qs_lb_cache', whole(u32), LbCacheEntry);
      const oldCid = hex(ROWS[0]!.cid);
      const slot = cacheSlot(ctWords(oldCid.subarray(1)));
      const f = toVip(PORT_ROWS, shortHeader(oldCid));
      steeredTo(t, h, f, ownerMac(0), 'under the old key');
      const entry = cache.lookup(slot)!.find((e) => e.epoch !== 0n)!;
      t.truthy(entry, 'the packet left an entry');
      // every CPU holds it, so whichever CPU runs the next packet would find it
      cache.update(slot, entry);
      steeredTo(t, h, f, ownerMac(0), 'again, from the cache');

      const newKey = hex('00112233445566778899aabbccddeeff');
      h.install(vectorWorld({ key: newKey }));
      const live = h.coll.map('qs_live', whole(u32), Live).lookup(0)!;
      t.not(live.epoch[live.gen], entry.epoch, 'the publish gave the live generation a new epoch');
      t.deepEqual(cache.lookup(slot)!.map((e) => e.epoch), cache.lookup(slot)!.map(() => entry.epoch), 'the old entry is still there');
      // the old CID now decrypts to something else: no owner (the old entry would have said row 0's)
      const r = h.run(f);
      t.is(r.action, XdpAction.PASS);
      t.is(h.reference(f).reason, 'UNKNOWN_SERVER');
      t.deepEqual(r.output, f, 'not steered by the stale entry');
      // and a CID of the same server under the new key is steered to it
      const cid = encodeCid({ cr: 0, sidLen: 3, nonceLen: 4, key: newKey }, hex(ROWS[0]!.sid), hex(ROWS[0]!.nonce));
      steeredTo(t, h, toVip(PORT_ROWS, shortHeader(cid)), ownerMac(0), 'the same server under the new key');
    }),
  );
}
