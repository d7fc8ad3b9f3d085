// The gQUIC header reader and decision of the TS reference (issue 17), without BPF: every form and
// header field, the Maglev slot a CID is looked up at, the owner's every state, the counted forms,
// and the fixture tables (gQUIC and the existing ones) against their hand-written expectations.
import test from 'ava';
import { CidFormat, GquicVersion, type GquicFormName } from '../../src/bpf/layout.js';
import { XdpAction } from '../../src/bpf/program.js';
import { decide, type DatapathState, type Decision } from '../../src/datapath/reference.js';
import { decodeCid } from '../../src/quic/cid.js';
import { parseGquic, q043HeaderLen, q046DcidLen } from '../../src/quic/gquic.js';
import { QUIC_V1 } from '../../src/quic/header.js';
import { vipValue } from '../../src/datapath/tables.js';
import { gquicSlot } from '../../src/datapath/maglev.js';
import { gquicLong, gquicShort, longHeader, msquicCid, q043Header, quicLbCid, withMacs, MAC_SELF } from '../helpers/frames.js';
import { fixtures, v4, type Fixture } from '../helpers/fixtures.js';
import { GCID, gquicFixtures } from '../helpers/gquic-fixtures.js';
import { MAC_RS2, PORT_GQUIC, PORT_GQUIC_LB, PORT_QUIC_LB, fixtureWorld, referenceState } from '../helpers/world.js';

const hex = (h: string) => Buffer.from(h, 'hex');
const IFINDEX: Record<string, number> = { veth0: 7, veth1: 8 };
const world = fixtureWorld((n) => IFINDEX[n]!);
/** The fixture world's tables; ring: a gQUIC owner table of the test's own instead of the Maglev one. */
const state = (ring?: DatapathState['gquicRing']): DatapathState => ({ ...referenceState(world, (n) => IFINDEX[n]!), ...(ring ? { gquicRing: ring } : {}) });
/** A ring that owns every slot by one ID and records the slots asked. */
function ringOf(owner: string | null): { ring: DatapathState['gquicRing']; asked: number[] } {
  const asked: number[] = [];
  return { ring: (slot) => (asked.push(slot), owner), asked };
}
const brief = (d: Decision) => ({ reason: d.reason, action: d.action, slot: d.slot, form: d.gquic?.form });
type Brief = { reason: Decision['reason']; action: number; slot?: number; form?: GquicFormName };
const expect = (reason: Decision['reason'], form?: GquicFormName, slot?: number): Brief => ({
  reason, action: reason === 'STEERED' ? XdpAction.TX : XdpAction.PASS, slot, form,
});

// Slots (qs_hash of the 8 bytes as two little-endian words, % 65537) from an independent script (Python).
const CID_A = hex('0102030405060708');
const SLOT_A = 25185;
const CID_B = hex('1122334455667788');
const SLOT_B = 53895;

test('Q043 public header length: flags, 8-byte CID, version when flagged, packet number unless a reset (the nonce flag ignored)', (t) => {
  const cases: [number, number][] = [
    [0x08, 10], [0x18, 11], [0x28, 13], [0x38, 15], // packet numbers of 1, 2, 4, 6 bytes
    [0x09, 14], [0x19, 15], [0x29, 17], [0x39, 19], // with the version
    [0x0a, 9], [0x3a, 9], // a reset carries no packet number
    [0x0c, 10], [0x0d, 14], // the nonce flag adds nothing
  ];
  for (const [b0, len] of cases) t.is(q043HeaderLen(b0), len, `flags 0x${b0.toString(16)}`);
});

test('Q046 DCID nibble: 0 is none, n is n + 3 bytes; the SCID nibble is not read', (t) => {
  const cases: [number, number][] = [[0x00, 0], [0x05, 0], [0x10, 4], [0x50, 8], [0x58, 8], [0x60, 9], [0xf0, 18], [0xff, 18]];
  for (const [cil, len] of cases) t.is(q046DcidLen(cil), len, `0x${cil.toString(16)}`);
});

test('the form of each first octet: long headers by version, Q043 iff the fixed bit is clear and 0x08 set, else a short header', (t) => {
  const long = (v: number) => longHeader({ version: v, dcid: GCID.rs2 });
  t.like(parseGquic(long(GquicVersion.Q046)), { form: 'Q046' });
  t.like(parseGquic(long(GquicVersion.Q050)), { form: 'Q050' });
  // a long header of any other version (Q043 included: its clients never set 0x80) is read as before
  for (const v of [QUIC_V1, 0, GquicVersion.Q043, 0x1a2a3a4a]) t.is(parseGquic(long(v)), null, `version 0x${v.toString(16)}`);
  t.is(parseGquic(Buffer.alloc(0)), null);
  t.deepEqual(parseGquic(hex('c051303436')), { form: 'Q046', reason: 'MALFORMED' }, 'the version read, the length byte missing');
  t.is(parseGquic(hex('c0513034')), null, 'a long header cut inside its version: no form');
  let q043 = 0;
  for (let b0 = 0; b0 < 0x80; b0++) {
    const p = Buffer.concat([Buffer.from([b0 & ~0x03]), GCID.rs2, Buffer.alloc(24)]); // no version or reset flag: a whole header
    const form = (parseGquic(p) as { form: string }).form;
    t.is(form, !(b0 & 0x40) && b0 & 0x08 ? 'Q043' : 'SHORT', `0x${b0.toString(16)}`);
    if (form === 'Q043') q043++;
  }
  t.is(q043, 32, 'a quarter of the short-form octets read as Q043');
});

test('Q043 checks in order (reset with version, then the header length, then the version), kept for after the IETF reading', (t) => {
  const q043 = { form: 'Q043', off: 1, hash: true };
  t.deepEqual(parseGquic(q043Header({ cid: GCID.rs2, reset: true, version: GquicVersion.Q043 })), { ...q043, stop: 'MALFORMED' });
  t.deepEqual(parseGquic(q043Header({ cid: GCID.rs2, version: GquicVersion.Q046, pnLen: 6, rest: Buffer.alloc(0) }).subarray(0, 18)), { ...q043, stop: 'MALFORMED' });
  t.deepEqual(parseGquic(q043Header({ cid: GCID.rs2, version: GquicVersion.Q046, pnLen: 6, rest: Buffer.alloc(0) })), { ...q043, stop: 'UNKNOWN_VERSION' });
  t.deepEqual(parseGquic(q043Header({ cid: GCID.rs2, version: GquicVersion.Q043, pnLen: 6, rest: Buffer.alloc(0) })), { form: 'Q043', off: 1, hash: true });
});

test('long headers: Retry before the length byte, the DCID inside the payload, 8 bytes to hash', (t) => {
  t.deepEqual(parseGquic(gquicLong({ version: 'Q046', type: 'RETRY', dcid: GCID.rs2 }).subarray(0, 5)), { form: 'Q046', reason: 'RETRY' });
  t.deepEqual(parseGquic(gquicLong({ version: 'Q050', type: 'INITIAL', dcid: GCID.rs2 }).subarray(0, 5)), { form: 'Q050', reason: 'MALFORMED' });
  t.deepEqual(parseGquic(gquicLong({ version: 'Q050', dcid: Buffer.alloc(20) })), { form: 'Q050', off: 6, hash: false });
  t.deepEqual(parseGquic(gquicLong({ version: 'Q050', dcid: Buffer.alloc(21) })), { form: 'Q050', reason: 'MALFORMED' });
  t.deepEqual(parseGquic(gquicLong({ version: 'Q046', dcid: GCID.rs2 })), { form: 'Q046', off: 6, hash: true });
});

test('frame builders write the header formats byte for byte', (t) => {
  const cid = CID_A.toString('hex');
  t.is(q043Header({ cid: CID_A, version: GquicVersion.Q043, pnLen: 2, rest: hex('aa') }).toString('hex'), `19${cid}513034330101aa`);
  t.is(q043Header({ cid: CID_A, pnLen: 6, nonce: true, rest: hex('aa') }).toString('hex'), `3c${cid}010101010101aa`);
  t.is(q043Header({ cid: CID_A, reset: true, rest: hex('aa') }).toString('hex'), `2a${cid}aa`);
  // Q046: form, fixed bit, Handshake (2), packet number 4 bytes (3); DCIL 5 (8 bytes), SCIL 1 (4 bytes)
  t.is(gquicLong({ version: 'Q046', type: 'HANDSHAKE', dcid: CID_A, scid: hex('5c5c5c5c'), rest: hex('aa') }).toString('hex'), `e35130343651${cid}5c5c5c5c01010101aa`);
  t.is(gquicLong({ version: 'Q046', type: 'INITIAL', dcid: Buffer.alloc(0), scid: CID_A, pnLen: 1, rest: hex('aa') }).toString('hex'), `c05130343605${cid}01aa`);
  t.is(gquicLong({ version: 'Q050', type: 'ZERO_RTT', dcid: CID_A, rest: hex('aa') }).toString('hex'), `d15130353008${cid}00aa`);
  t.is(gquicShort(CID_A, { rest: hex('aa') }).toString('hex'), `43${cid}aa`);
  t.is(gquicShort(CID_A, { fixedBit: false, bit08: true, pnLen: 1, rest: hex('aa') }).toString('hex'), `08${cid}aa`);
});

test('the 8 client-CID bytes are looked up at qs_hash % 65537, in every form', (t) => {
  for (const [cid, slot] of [[CID_A, SLOT_A], [CID_B, SLOT_B]] as const) {
    for (const [form, payload] of [
      ['Q043', q043Header({ cid })],
      ['Q046', gquicLong({ version: 'Q046', dcid: cid })],
      ['Q050', gquicLong({ version: 'Q050', dcid: cid })],
      ['SHORT', gquicShort(cid)],
    ] as const) {
      const { ring, asked } = ringOf('0c0d');
      const f = v4(payload, PORT_GQUIC);
      const d = decide(f, state(ring));
      t.deepEqual(asked, [slot], `${form} ${cid.toString('hex')}: slot`);
      t.deepEqual(brief(d), expect('STEERED', form, 1), form);
      t.deepEqual(d.output, withMacs(f, MAC_RS2, MAC_SELF));
    }
  }
});

test('the owner from the table, in every state: local, unknown, empty slot, down, draining, behind another interface', (t) => {
  const q = v4(q043Header({ cid: CID_A }), PORT_GQUIC);
  const cases: [string | null, Brief][] = [
    ['0a0b', expect('LOCAL', 'Q043')],
    ['7777', expect('UNKNOWN_SERVER', 'Q043')], // not in the server table (an inconsistent generation)
    [null, expect('UNKNOWN_SERVER', 'Q043')], // an empty slot (no server up)
    ['0e0f', expect('PEER_DOWN', 'Q043')],
    ['1011', expect('PEER_DRAIN', 'Q043')],
    ['2223', expect('NO_EGRESS', 'Q043')],
    ['2021', { reason: 'STEERED', action: XdpAction.REDIRECT, slot: 9, form: 'Q043' }],
  ];
  for (const [owner, want] of cases) t.deepEqual(brief(decide(q, state(ringOf(owner).ring))), want, `owner ${owner}`);
});

test('every Q046 DCID nibble: only DCIL 5 (8 bytes) is hashed; every SCIL nibble is skipped', (t) => {
  for (let dcil = 0; dcil < 16; dcil++) {
    const len = dcil ? dcil + 3 : 0;
    const f = v4(gquicLong({ version: 'Q046', dcid: Buffer.alloc(len, 0xf1), cil: dcil << 4 }), PORT_GQUIC);
    const { ring, asked } = ringOf('0c0d');
    t.deepEqual(brief(decide(f, state(ring))), len === 8 ? expect('STEERED', 'Q046', 1) : expect('UNROUTABLE_CID', 'Q046'), `DCIL ${dcil}`);
    t.is(asked.length, len === 8 ? 1 : 0);
  }
  for (let scil = 0; scil < 16; scil++) {
    const f = v4(gquicLong({ version: 'Q046', dcid: CID_A, cil: 0x50 | scil, rest: Buffer.alloc(40) }), PORT_GQUIC);
    t.deepEqual(brief(decide(f, state(ringOf('0c0d').ring))), expect('STEERED', 'Q046', 1), `SCIL ${scil}`);
  }
});

test('every Q050 DCID length 0..20: only 8 is hashed; 21 and above are malformed', (t) => {
  for (let len = 0; len <= 25; len++) {
    const f = v4(gquicLong({ version: 'Q050', dcid: Buffer.alloc(len, 0xf1) }), PORT_GQUIC);
    const want = len > 20 ? expect('MALFORMED', 'Q050') : len === 8 ? expect('STEERED', 'Q050', 1) : expect('UNROUTABLE_CID', 'Q050');
    t.deepEqual(brief(decide(f, state(ringOf('0c0d').ring))), want, `length ${len}`);
  }
});

test('the table is not read when the IETF reading names a known server, nor without 8 CID bytes, nor off gQUIC VIPs', (t) => {
  const frames: [string, Buffer][] = [
    ['Q043 naming 0c0d by QUIC-LB', v4(q043Header({ cid: quicLbCid(0, hex('0c0d'), 5) }), PORT_GQUIC_LB)],
    ['Q050 with an 18-byte CID naming 0c0d', v4(gquicLong({ version: 'Q050', dcid: quicLbCid(0, hex('0c0d'), 15) }), PORT_GQUIC_LB)],
    ['short header of 8 bytes', v4(gquicShort(CID_A).subarray(0, 8), PORT_GQUIC)],
    ['Q046 with a 4-byte DCID', v4(gquicLong({ version: 'Q046', dcid: CID_A.subarray(0, 4) }), PORT_GQUIC)],
    ['v1 Handshake', v4(longHeader({ version: QUIC_V1, dcid: CID_A }), PORT_GQUIC)],
    ['Q043 on a VIP without gQUIC', v4(q043Header({ cid: CID_A }), PORT_QUIC_LB)],
    ['Q046 on a VIP without gQUIC', v4(gquicLong({ version: 'Q046', dcid: CID_A }), PORT_QUIC_LB)],
  ];
  for (const [what, f] of frames) {
    const { ring, asked } = ringOf('1234');
    decide(f, state(ring));
    t.deepEqual(asked, [], what);
  }
});

test('the VIP flag is masked off the layout: QUIC-LB, MsQuic and mvfst CIDs decode the same with gQUIC on', (t) => {
  const lb = { cid_format: CidFormat.QUIC_LB, quic_lb: [{ sid_len: 2, nonce_len: 6, flags: 1 }] };
  for (const [vip, cid, sid] of [
    [lb, quicLbCid(0, hex('0c0d'), 6), '0c0d'],
    [{ cid_format: CidFormat.FIXED, sid_offset: 1, sid_len: 4, dcid_len: 14 }, msquicCid(hex('c0000202')), 'c0000202'],
    [{ cid_format: CidFormat.MVFST, dcid_len: 8 }, hex('f312345678333333'), '12345678'],
  ] as const) {
    const plain = decodeCid(cid, vipValue(vip));
    const flagged = decodeCid(cid, vipValue({ ...vip, cid_format: vip.cid_format | 0x80 }));
    t.deepEqual(plain, { sid: hex(sid) });
    t.deepEqual(flagged, plain);
  }
});

test('greased IETF short headers with 0x08 set: owner by server ID, else hashed, on a gQUIC VIP; as before elsewhere', (t) => {
  const known = gquicShort(quicLbCid(0, hex('0c0d'), 6), { first: 0x08 });
  const unknown = gquicShort(quicLbCid(0, hex('7777'), 6), { first: 0x08 });
  const st = state(ringOf('1234').ring);
  t.deepEqual(brief(decide(v4(known, PORT_GQUIC_LB), st)), expect('STEERED', undefined, 1));
  t.deepEqual(brief(decide(v4(unknown, PORT_GQUIC_LB), st)), expect('STEERED', 'Q043', 6));
  t.deepEqual(brief(decide(v4(known, PORT_QUIC_LB), st)), expect('STEERED', undefined, 1));
  t.deepEqual(brief(decide(v4(unknown, PORT_QUIC_LB), st)), expect('UNKNOWN_SERVER'));
});

/** Checks a fixture table against the reference: verdict, output, owner slot, and the counted gQUIC form. */
function checkTable(t: import('ava').ExecutionContext, list: Fixture[]): void {
  const st = state();
  const wrong = list.filter((f) => {
    const d = decide(f.frame, st);
    return !(d.reason === f.reason && d.action === f.action && d.output.equals(f.output ?? f.frame) && d.slot === f.slot && d.gquic?.form === f.gquic);
  });
  t.deepEqual(wrong.map((f) => f.name), []);
}

test('the gQUIC fixture table through the reference, with the fixture world\'s Maglev table', (t) => {
  const list = gquicFixtures();
  checkTable(t, list);
  const forms = new Set(list.map((f) => f.gquic).filter(Boolean));
  t.deepEqual([...forms].sort(), ['Q043', 'Q046', 'Q050', 'SHORT']);
  t.log(`${list.length} gQUIC fixtures`);
});

test('the existing fixture table is decided as before beside the gQUIC VIPs (and nothing is counted as gQUIC)', (t) => {
  checkTable(t, fixtures());
});

test('the fixture world\'s Maglev owners the gQUIC fixtures rely on (computed by an independent script)', (t) => {
  const { gquicRing } = state();
  const owners = Object.fromEntries(Object.entries(GCID).map(([k, cid]) => [k, gquicRing(gquicSlot(cid))]));
  t.deepEqual(owners, { local: '0a0b', rs2: '0c0d', rs3: '1234', redirect: '2021', noEgress: '2223' });
  const more: [string, string][] = [
    ['070c0d4e4e4e4e4e', 'e4e5e6e7e8e9eaebeced'], ['080c0d4e4e4e4e4e', 'e4e5e6e7e8e9eaebeced'], ['0877774e4e4e4e4e', 'e5e6e7e8e9eaebecedeeeff0f1f2f3'],
    ['3cc0000202000177', 'e1'], ['3333333333333333', '12345678'],
  ];
  for (const [cid, owner] of more) t.is(gquicRing(gquicSlot(hex(cid))), owner, cid);
  t.is(gquicSlot(CID_A), SLOT_A);
  t.is(gquicSlot(CID_B), SLOT_B);
});
