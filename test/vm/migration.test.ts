// End to end with a real IPVS-DR director (scheduler sh with sh-port): a real QUIC client's public
// address changes mid-transfer, IPVS hashes the new address to another real server (asserted from
// its connection table), and quicsteer there steers the packets back to the owner. Control for each
// event: the same run with quicsteer detached does not complete. Smaller transfers than the host
// tier: the VM is emulated (TCG).
import test from 'ava';
import { vmTest, inVm } from '../helpers/vm.js';
import { MigrationLab, EVENTS, type LabEvent } from '../../src/lab/migration.js';
import { checkEvent } from '../helpers/migration.js';

let lab: MigrationLab | undefined;
if (inVm)
  test.before(() => {
    lab = new MigrationLab({ director: 'ipvs', uploadBytes: 4 << 20, downloadBytes: 4 << 20, rate: '20mbit', eventAfterMs: 1000, timeoutS: 60 });
  });
test.after.always(() => lab?.destroy());

for (const event of Object.keys(EVENTS) as LabEvent[])
  vmTest(`through IPVS-DR, ${event}: ${EVENTS[event]}; the transfer survives with steering and fails without`, (t) => checkEvent(t, lab!, event));
