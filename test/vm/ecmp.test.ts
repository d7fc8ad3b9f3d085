// Two active IPVS-DR directors behind an L4-hashed multipath route (ECMP), mh with mh-port on both
// with the same table: the router withdraws the path through the director carrying a real QUIC
// transfer, and the other director takes the flow. With the same table it picks the same real server
// (Maglev's point): nothing moves, with or without quicsteer. When the other director's table differs
// (its own health check has the owner at weight 0), it picks another real server: quicsteer steers,
// and the control without it fails.
import test from 'ava';
import { vmTest, inVm } from '../helpers/vm.js';
import { MigrationLab, DIRECTOR_EVENTS } from '../../src/lab/migration.js';
import { checkDirectorEvent } from '../helpers/migration.js';

let lab: MigrationLab | undefined;
if (inVm)
  test.before(() => {
    // 12 MiB up (5 s at 20 Mbit/s): the path is withdrawn after a director apply on the other director
    // (a second or two under TCG); with 4 MiB one control run was over before its flow moved
    lab = new MigrationLab({ director: 'ecmp', scheduler: { scheduler: 'mh', flags: ['mh-port', 'mh-fallback'] }, uploadBytes: 12 << 20, downloadBytes: 4 << 20, rate: '20mbit', eventAfterMs: 1000, timeoutS: 60 });
  });
test.after.always(() => lab?.destroy());

vmTest(`ECMP, ecmp-fail: ${DIRECTOR_EVENTS['ecmp-fail']}; the flow keeps its real server, with and without quicsteer`, (t) => checkDirectorEvent(t, lab!, 'ecmp-fail', false).then(() => undefined));
vmTest(`ECMP, ecmp-fail-differs: ${DIRECTOR_EVENTS['ecmp-fail-differs']}; the transfer survives with steering and fails without`, (t) => checkDirectorEvent(t, lab!, 'ecmp-fail-differs').then(() => undefined));
