// A director pair: keepalived on both (configured by `quicsteer director keepalived --vrrp`), VRRP
// moving the VIP by gratuitous ARP, the same IPVS-DR listener (wrr) on both and no connection sync.
// The master fails mid-transfer (its keepalived stops; in the other run its link goes down), the
// backup takes the VIP and schedules the flow by its own table: another real server, which steers
// the packets to the owner. Control: the same failover with quicsteer detached breaks the transfer.
import test from 'ava';
import { vmTest, inVm } from '../helpers/vm.js';
import { MigrationLab, DIRECTOR_EVENTS, type DirectorEvent } from '../../src/lab/migration.js';
import { checkDirectorEvent } from '../helpers/migration.js';

let lab: MigrationLab | undefined;
if (inVm)
  test.before(() => {
    // idle timeout 15 s: a link-down failover leaves the client without an answer for ~3 s (3 missed
    // adverts). 12 MiB up (5 s at 20 Mbit/s): with 4 MiB one link-down run was over before the backup
    // held the VIP (the flooded frames carried it to its end), and the backup's choice was never made
    lab = new MigrationLab({ director: 'vrrp', scheduler: { scheduler: 'wrr', flags: [] }, listenAny: true, uploadBytes: 12 << 20, downloadBytes: 4 << 20, rate: '20mbit', eventAfterMs: 1000, timeoutS: 60, idleTimeoutS: 15 });
  });
test.after.always(() => lab?.destroy());

for (const event of ['failover-stop', 'failover-link'] as DirectorEvent[])
  vmTest(`VRRP pair, ${event}: ${DIRECTOR_EVENTS[event]}; the transfer survives with steering and fails without`, async (t) => {
    const { on, off } = await checkDirectorEvent(t, lab!, event);
    for (const r of [on, off]) t.true(r.vipMoveMs!.held > 0 && r.vipMoveMs!.neighbour > 0, `the VIP moved to the backup and the NAT learnt it (${JSON.stringify(r.vipMoveMs)})`);
  });
