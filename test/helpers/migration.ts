// What a migration run must show, with steering and in its control without (host and VM tiers alike).
import type { ExecutionContext } from 'ava';
import { NAT_PUBLIC, type LabEvent, type MigrationLab, type RunResult } from '../../src/lab/migration.js';

/** The event with quicsteer on every real server, then the same event with it detached (the control). */
export async function checkEvent(t: ExecutionContext, lab: MigrationLab, event: LabEvent): Promise<void> {
  lab.steering(true);
  let on = await lab.run(event, true);
  // The run tests quicsteer only if the director's pick after the change received the client's
  // packets. That failed in most VM runs until 2026-11-30, when lab.diagnose() showed why: the
  // upload was over before the event, so the client sent nothing after it (labOptionsProblem now
  // refuses such options). In case TCG's timing still finds a gap, such a run is repeated, at most
  // twice, each repeat logged with the path's state.
  const reached = (r: RunResult) => Object.entries(r.reasons[r.directorAfter!] ?? {}).some(([k, n]) => k !== 'not_vip' && n > 0);
  for (let repeat = 1; repeat <= 2 && on.directorAfter && !reached(on); repeat++) {
    t.log(`${event}: no QUIC packet reached ${on.directorAfter} (the director's pick after the change) during the run; reasons ${JSON.stringify(on.reasons)}; repeat ${repeat} of at most 2`);
    t.log(`${event}: the path right after that run:\n${lab.diagnose()}`);
    on = await lab.run(event, true);
  }
  lab.steering(false);
  const off = await lab.run(event, false);
  assertMigration(t, on, off);
}

export function assertMigration(t: ExecutionContext, on: RunResult, off: RunResult): void {
  const total = (r: RunResult) => Object.values(r.steered).reduce((a, b) => a + b, 0);
  const mib = (r: RunResult) => `${r.event}: up ${on.uploadBytes >> 20} MiB + down ${on.downloadBytes >> 20} MiB`;
  t.log(`${mib(on)} with steering in ${on.ms} ms, ${total(on)} packets steered (${on.directorAfter} -> ${on.owner}); owner saw ${on.ownerSaw.join(', ')}`);
  if (!on.downloadIdentical || on.steered[on.directorAfter!] === 0) t.log(`${on.event}: per-server reasons during the run: ${JSON.stringify(on.reasons)}`);
  t.log(`${on.event} control without steering: download ${off.downloadIdentical ? 'complete' : 'incomplete'}, upload ${off.uploadComplete ? 'complete' : 'incomplete'}, client gave up after ${off.ms} ms`);
  // the event really moved the flow: the director sent the new address to another real server
  t.truthy(on.directorBefore);
  t.truthy(on.directorAfter);
  t.true(on.directorAfter !== on.directorBefore, `the director picked another real server after the change (${on.directorBefore} -> ${on.directorAfter})`);
  t.true(on.owner === on.directorBefore, 'the server the handshake went to owns the connection');
  t.not(on.publicAfter, on.publicBefore);
  t.true(on.downloadIdentical, 'the download arrived byte-identical');
  t.true(on.uploadComplete, "the upload's last byte reached the owner");
  t.true(on.steered[on.directorAfter!] > 0, 'the server the director picked after the change steered packets');
  t.is(total(on), on.steered[on.directorAfter!], 'only that server steered');
  // the owner sees the client's real (post-NAT) addresses, before and after
  t.true(on.ownerSaw.includes(on.publicBefore) && on.ownerSaw.includes(on.publicAfter), `owner saw ${on.ownerSaw.join(', ')}`);
  t.true(on.ownerSaw.every((a) => a.startsWith(`${NAT_PUBLIC}:`)));
  // control: the same change without quicsteer breaks the transfer
  t.true(off.directorAfter !== off.directorBefore, 'control: the director moved the flow too');
  t.is(total(off), 0);
  t.false(off.downloadIdentical && off.uploadComplete, 'control: without steering the transfer does not complete');
}
