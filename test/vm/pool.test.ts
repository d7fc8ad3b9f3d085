// Pool changes on one IPVS-DR director (mh with mh-port and mh-fallback) while a real QUIC transfer runs: a real
// server joins, the owner is drained (weight 0), the owner leaves. IPVS keeps a running flow on its
// real server through its connection table, so a change moves the flow when the flow's address
// changes with it (a NAT rebinding whose new port the old table sent to the owner, so only the change
// moves it) or when the owner leaves (expire_nodest_conn=1: IPVS schedules the flow again). Each
// event with quicsteer, then its control without. mh-fallback: mh keeps a server drained to weight 0
// in its table and, without the flag, drops the new flows that hash to it ("no destination available",
// seen in this VM), so a drain needs it.
import test from 'ava';
import { vmTest, inVm } from '../helpers/vm.js';
import { MigrationLab, DIRECTOR_EVENTS, type DirectorEvent } from '../../src/lab/migration.js';
import { checkDirectorEvent } from '../helpers/migration.js';
import { execFileSync } from 'node:child_process';

let lab: MigrationLab | undefined;
if (inVm)
  test.before(() => {
    lab = new MigrationLab({
      director: 'ipvs',
      scheduler: { scheduler: 'mh', flags: ['mh-port', 'mh-fallback'] },
      pool: ['rs1', 'rs2'],
      // 12 MiB (5 s at 20 Mbit/s): the client must still be uploading when the NAT rebinds it, and the
      // rebinding waits for director apply (a second or two under TCG); with 4 MiB the upload was over
      // in some runs, the client sent nothing from its new port, and the run tested nothing
      uploadBytes: 12 << 20,
      downloadBytes: 4 << 20,
      rate: '20mbit',
      eventAfterMs: 1000,
      timeoutS: 60,
    });
  });
test.after.always(() => lab?.destroy());

for (const event of ['pool-add', 'pool-drain', 'pool-remove'] as DirectorEvent[])
  vmTest(`IPVS mh-port, ${event}: ${DIRECTOR_EVENTS[event]}; the transfer survives with steering and fails without`, (t) => checkDirectorEvent(t, lab!, event).then(() => undefined));

vmTest('IPVS mh-port, pool-remove with net.ipv4.vs.expire_nodest_conn=0 (the kernel default): the director drops the flow to the removed owner, so the transfer fails with quicsteer too (why director apply warns)', async (t) => {
  const sysctl = (v: string) => execFileSync('ip', ['netns', 'exec', lab!.director!.name, 'sysctl', '-qw', `net.ipv4.vs.expire_nodest_conn=${v}`]);
  sysctl('0');
  try {
    lab!.steering(true);
    const r = await lab!.run('pool-remove', true);
    t.log(`pool-remove, expire_nodest_conn=0: real server ${r.directorBefore} -> ${r.directorAfter ?? '(no entry: the flow stays on the removed server)'}; ${r.downloadIdentical && r.uploadComplete ? 'complete' : 'failed'} after ${r.ms} ms, ${Object.values(r.steered).reduce((a, b) => a + b, 0)} packets steered`);
    t.is<string | undefined, string | undefined>(r.owner, r.directorBefore);
    t.false(r.downloadIdentical && r.uploadComplete, 'the director drops the flow: nothing reaches a real server that could steer it');
    t.is(Object.values(r.steered).reduce((a, b) => a + b, 0), 0);
  } finally {
    sysctl('1');
  }
});
