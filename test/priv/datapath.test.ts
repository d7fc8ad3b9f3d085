// The fixture table through the real program (BPF_PROG_TEST_RUN): verdict, output frame, and exactly
// one reason counter (plus the owner's counter when steered) move per frame.
import test from 'ava';
import { Reasons } from '../../src/bpf/layout.js';
import { XdpAction } from '../../src/bpf/program.js';
import { privileged, isRoot, inCI } from '../helpers/env.js';
import { Harness, fixtureWorld } from '../helpers/world.js';
import { fixtures } from '../helpers/fixtures.js';

const all = fixtures();

test('the table has at least 50 hand-written fixtures and covers every reason', (t) => {
  const handWritten = all.filter((f) => !/ cut at byte | payload of \d+ bytes$/.test(f.name));
  t.true(handWritten.length >= 50, `${handWritten.length} hand-written fixtures`);
  const covered = new Set(all.map((f) => f.reason));
  t.deepEqual(Reasons.filter((r) => !covered.has(r)), []);
  t.true(all.some((f) => f.action === XdpAction.TX) && all.some((f) => f.action === XdpAction.REDIRECT));
});

let h: Harness | undefined;
test.before(() => {
  if (isRoot || inCI) {
    h = new Harness();
    h.install(fixtureWorld((n) => h!.ifindex(n)));
  }
});
test.after.always(() => h?.destroy());

for (const f of all) {
  privileged(`${f.reason}: ${f.name}`, (t) => {
    const before = h!.reasonPackets();
    const slotBefore = f.slot === undefined ? undefined : h!.serverCounter(f.slot);
    const r = h!.run(f.frame);
    t.is(r.action, f.action, 'verdict');
    t.deepEqual(r.output, f.output ?? f.frame, 'output frame');
    const after = h!.reasonPackets();
    const moved = Object.fromEntries(Reasons.filter((x) => after[x] !== before[x]).map((x) => [x, after[x] - before[x]]));
    t.deepEqual(moved, { [f.reason]: 1 }, 'exactly one reason counted');
    if (f.slot !== undefined) {
      const s = h!.serverCounter(f.slot);
      t.is(s.packets - slotBefore!.packets, 1n, 'owner packets');
      t.is(s.bytes - slotBefore!.bytes, BigInt(f.frame.length), 'owner bytes');
    }
    // the reference decoder agrees on every fixture
    const ref = h!.reference(f.frame);
    t.deepEqual([ref.reason, ref.action, ref.output, ref.slot], [f.reason, f.action, f.output ?? f.frame, f.slot]);
  });
}
