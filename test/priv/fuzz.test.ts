// Differential fuzz: seeded random, truncated and mutated frames through the real program and the
// reference decoder; verdict, output frame and reason must agree on every one.
import { Reasons, type ReasonName } from '../../src/bpf/layout.js';
import { privilegedSerial } from '../helpers/env.js';
import { Harness, PORT_MVFST, PORT_QUIC_LB_ENC, fixtureWorld } from '../helpers/world.js';
import { Rng, dcidTarget, randomFrame } from '../helpers/fuzz.js';
import { MVFST_MIN_CID_LEN } from '../../src/quic/vendor.js';

const SEED = Number(process.env.QS_FUZZ_SEED ?? 0x5eed2026);
const COUNT = Number(process.env.QS_FUZZ_COUNT ?? 100_000);

privilegedSerial(`differential fuzz: ${COUNT} frames, seed ${SEED} (QS_FUZZ_SEED / QS_FUZZ_COUNT to change)`, (t) => {
  const h = new Harness();
  try {
    h.install(fixtureWorld((n) => h.ifindex(n)));
    const base = h.reasonPackets();
    const tally = Object.fromEntries(Reasons.map((r) => [r, 0])) as Record<ReasonName, number>;
    const rng = new Rng(SEED);
    const seen = new Set<ReasonName>();
    // the encrypted VIP's frames by config-rotation codepoint and reason
    const encrypted = new Map<string, number>();
    // the mvfst VIP's long headers by version, DCID length and reason
    const mvfst = new Map<string, number>();
    const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    let mismatch: string | undefined;
    h.ns.enter(() => {
      for (let i = 0; i < COUNT && !mismatch; i++) {
        const f = randomFrame(rng);
        const want = h.reference(f);
        const got = h.prog.testRun({ data: f, ingressIfindex: 1 });
        tally[want.reason]++;
        seen.add(want.reason);
        const to = dcidTarget(f);
        if (to?.port === PORT_QUIC_LB_ENC) count(encrypted, `${to.first >> 5} ${want.reason}`);
        if (to?.port === PORT_MVFST && to.dcidLen !== undefined) count(mvfst, `v${to.first >> 6} ${to.dcidLen} ${want.reason}`);
        const counted = h.reasonPacketsOf(want.reason) - base[want.reason];
        if (got.retval !== want.action || !got.data.equals(want.output) || counted !== tally[want.reason]) {
          mismatch =
            `seed ${SEED}, frame #${i}: ${f.toString('hex')}\n` +
            `reference: ${want.reason} action ${want.action} output ${want.output.toString('hex')}\n` +
            `program:   action ${got.retval} output ${got.data.toString('hex')}; ${want.reason} counted ${counted}, expected ${tally[want.reason]}`;
        }
      }
    });
    if (mismatch) t.fail(mismatch);
    // and no other counter moved: every frame counted once, under the reference's reason
    const after = h.reasonPackets();
    t.deepEqual(Object.fromEntries(Reasons.map((r) => [r, after[r] - base[r]])), tally, `seed ${SEED}`);
    t.log(`reasons hit: ${Reasons.map((r) => `${r} ${tally[r]}`).join(', ')}`);
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
