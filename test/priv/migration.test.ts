// End to end on the host kernel (no IPVS here): a real QUIC client uploads and downloads through a
// NAT; mid-transfer its public address changes (NAT rebinding, active migration, client-side
// rebinding) and the "director" (the NAT's static neighbour entry, standing in for IPVS-DR's choice)
// sends the new flow to another real server. quicsteer there steers it back to the owner; both files
// arrive whole. Control for each event: the same run with quicsteer detached does not complete.
// Then the same with encrypted QUIC-LB CIDs (the servers' CID shim and quicsteer's VIP share a key);
// a capture of every run shows the CIDs as they crossed the wire: plaintext, or encrypted and
// decoding to the owner with the key only.
// The same lab runs with a real IPVS director in test/vm/migration.test.ts.
import test from 'ava';
import { privilegedSerial } from '../helpers/env.js';
import { MigrationLab, EVENTS, type LabEvent, type LabOptions } from '../../src/lab/migration.js';
import { checkEvent } from '../helpers/migration.js';

const OPTIONS: LabOptions = { director: 'neigh', uploadBytes: 8 << 20, downloadBytes: 20 << 20, rate: '50mbit', eventAfterMs: 1000, timeoutS: 40, captureCids: true };
// one lab at a time (the machine has 2 vCPUs): the plaintext one goes before the encrypted one starts
let lab: MigrationLab | undefined;
const getLab = (encryptedCids: boolean) => {
  if (lab && lab.opts.encryptedCids !== encryptedCids) {
    lab.destroy();
    lab = undefined;
  }
  return (lab ??= new MigrationLab({ ...OPTIONS, encryptedCids }));
};
test.after.always(() => lab?.destroy());

for (const event of Object.keys(EVENTS) as LabEvent[])
  privilegedSerial(`${event}: ${EVENTS[event]}; the transfer survives with steering and fails without`, (t) => checkEvent(t, getLab(false), event));

for (const event of Object.keys(EVENTS) as LabEvent[])
  privilegedSerial(`encrypted CIDs, ${event}: the transfer survives with steering and fails without; the CIDs on the wire decode to the owner with the key only`, (t) => checkEvent(t, getLab(true), event));
