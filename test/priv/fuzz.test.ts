// Differential fuzz: seeded random, truncated and mutated frames through the real program and the
// reference decoder; verdict, output frame, reason and gQUIC counter must agree on every one.
import { GquicForms, Reasons, type ReasonName } from '../../src/bpf/layout.js';
import { privilegedSerial } from '../helpers/env.js';
import { GQUIC_PORTS, Harness, PORT_MVFST, PORT_QUIC_LB_ENC, fixtureWorld } from '../helpers/world.js';
import { Rng, dcidTarget, randomFrame, udpTarget } from '../helpers/fuzz.js';
import { MVFST_MIN_CID_LEN } from '../../src/quic/vendor.js';
import { parseGquic } from '../../src/quic/gquic.js';

const SEED = Number(process.env.QS_FUZZ_SEED ?? 0x5eed2026);
const COUNT = Number(process.env.QS_FUZZ_COUNT ?? 100_000);

privilegedSerial(`differential fuzz: ${COUNT} frames, seed ${SEED} (QS_FUZZ_SEED / QS_FUZZ_COUNT to change)`, (t) => {
  const h = new Harness();
  try {
    h.install(fixtureWorld((n) => h.ifindex(n)));
    const base = h.reasonPackets();
    const gbase = h.gquicPackets();
    // the reference's Maglev lookups, counted: a frame that asked the table took the hash path
    const ring = h.state.gquicRing;
    let asked = 0;
    h.state.gquicRing = (slot) => (asked++, ring(slot));
    const tally = Object.fromEntries(Reasons.map((r) => [r, 0])) as Record<ReasonName, number>;
    const rng = new Rng(SEED);
    const seen = new Set<ReasonName>();
    // the encrypted VIP's frames by config-rotation codepoint and reason
    const encrypted = new Map<string, number>();
    // the mvfst VIP's long headers by version, DCID length and reason
    const mvfst = new Map<string, number>();
    // qs_gquic_stats as the reference counts it ("form reason"), and the gQUIC VIPs' frames by the form
    // their first octet reads as (IETF: a long header of another version), the path and the reason
    const gtally = new Map<string, number>();
    const gquic = new Map<string, number>();
    const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    let mismatch: string | undefined;
    h.ns.enter(() => {
      for (let i = 0; i < COUNT && !mismatch; i++) {
        const f = randomFrame(rng);
        const askedBefore = asked;
        const want = h.reference(f);
        const got = h.prog.testRun({ data: f, ingressIfindex: 1 });
        tally[want.reason]++;
        seen.add(want.reason);
        const to = dcidTarget(f);
        if (to?.port === PORT_QUIC_LB_ENC) count(encrypted, `${to.first >> 5} ${want.reason}`);
        if (to?.port === PORT_MVFST && to.dcidLen !== undefined) count(mvfst, `v${to.first >> 6} ${to.dcidLen} ${want.reason}`);
        const u = udpTarget(f);
        if (u && (GQUIC_PORTS as readonly number[]).includes(u.port) && !['NOT_VIP', 'FRAGMENT', 'IPV6_EXT'].includes(want.reason)) {
          count(gquic, `${parseGquic(u.payload)?.form ?? 'IETF'} ${asked > askedBefore ? 'hash' : 'ietf'} ${want.reason}`);
        }
        const counted = h.reasonPacketsOf(want.reason) - base[want.reason];
        const gkey = want.gquic && `${want.gquic.form} ${want.reason}`;
        if (gkey) count(gtally, gkey);
        const gcounted = gkey ? h.gquicPacketsOf(want.gquic!.form, want.reason) - gbase[gkey]! : 0;
        if (got.retval !== want.action || !got.data.equals(want.output) || counted !== tally[want.reason] || (gkey && gcounted !== gtally.get(gkey))) {
          mismatch =
            `seed ${SEED}, frame #${i}: ${f.toString('hex')}\n` +
            `reference: ${want.reason}${gkey ? ` (gQUIC ${gkey})` : ''} action ${want.action} output ${want.output.toString('hex')}\n` +
            `program:   action ${got.retval} output ${got.data.toString('hex')}; ${want.reason} counted ${counted}, expected ${tally[want.reason]}` +
            (gkey ? `; gQUIC ${gkey} counted ${gcounted}, expected ${gtally.get(gkey)}` : '');
        }
      }
    });
    if (mismatch) t.fail(mismatch);
    // and no other counter moved: every frame counted once, under the reference's reason
    const after = h.reasonPackets();
    t.deepEqual(Object.fromEntries(Reasons.map((r) => [r, after[r] - base[r]])), tally, `seed ${SEED}`);
    t.log(`reasons hit: ${Reasons.map((r) => `${r} ${tally[r]}`).join(', ')}`);
    // no gQUIC counter moved but the reference's (form, reason): every gQUIC-counted frame once
    const gafter = h.gquicPackets();
    const gmoved = Object.fromEntries(Object.keys(gafter).filter((k) => gafter[k] !== gbase[k]).map((k) => [k, gafter[k]! - gbase[k]!]));
    t.deepEqual(gmoved, Object.fromEntries(gtally), `qs_gquic_stats (seed ${SEED})`);
    t.log(`qs_gquic_stats: ${[...gtally].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
    // every form steered and local on the hash path and by its IETF reading; IETF long headers steered on a gQUIC VIP
    t.log(`gQUIC VIPs, form read, path and reason: ${[...gquic].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
    const paths = GquicForms.flatMap((form) => ['hash', 'ietf'].flatMap((path) => ['STEERED', 'LOCAL'].map((r) => `${form} ${path} ${r}`)));
    t.deepEqual([...paths, 'IETF ietf STEERED'].filter((k) => !gquic.get(k)), [], `gQUIC forms and paths reached (seed ${SEED})`);
    t.deepEqual(GquicForms.flatMap((form) => [`${form} STEERED`, `${form} LOCAL`]).filter((k) => !gtally.get(k)), [], `gQUIC counters reached (seed ${SEED})`);
    t.deepEqual(Reasons.filter((r) => !seen.has(r)), [], `every reason reached (seed ${SEED})`);
    // every encrypted config (single pass, 3 and 4 passes, odd and even lengths) steered some frames
    // and decoded others to no server (wrong keys, random IDs); codepoint 7 is unroutable
    t.log(`encrypted VIP, codepoint and reason: ${[...encrypted].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
    const missing = [0, 1, 2, 3, 4, 5, 6].flatMap((cr) => (['STEERED', 'UNKNOWN_SERVER'] as const).filter((r) => !encrypted.get(`${cr} ${r}`)).map((r) => `${cr} ${r}`));
    if (!encrypted.get('7 UNROUTABLE_CID')) missing.push('7 UNROUTABLE_CID');
    t.deepEqual(missing, [], `encrypted configs reached (seed ${SEED})`);
    // each mvfst version steered at its shortest DCID and refused one byte shorter
    const atMin = ([1, 2, 3] as const).flatMap((v) => [`v${v} ${MVFST_MIN_CID_LEN[v]} STEERED`, `v${v} ${MVFST_MIN_CID_LEN[v] - 1} UNROUTABLE_CID`]);
    t.log(`mvfst VIP around the minimum lengths: ${atMin.map((k) => `${k} ${mvfst.get(k) ?? 0}`).join(', ')}`);
    t.deepEqual(atMin.filter((k) => !mvfst.get(k)), [], `mvfst minimum lengths reached (seed ${SEED})`);
  } finally {
    h.destroy();
  }
});
