// The migration lab refuses options whose runs would test nothing: the upload must outlast the event.
import test from 'ava';
import { labOptionsProblem, rateBits, type LabOptions } from '../../src/lab/migration.js';

const base: LabOptions = { director: 'ipvs', uploadBytes: 4 << 20, downloadBytes: 4 << 20, rate: '20mbit', eventAfterMs: 1000, timeoutS: 60 };

test('tc rates in bits per second; anything else refused', (t) => {
  t.is(rateBits('20mbit'), 20e6);
  t.is(rateBits('50Mbit'), 50e6);
  t.is(rateBits('1gbit'), 1e9);
  t.is(rateBits('500kbit'), 5e5);
  t.is(rateBits('100bit'), 100);
  t.throws(() => rateBits('20mbps'), { instanceOf: RangeError });
});

test('the tiers\' options pass; an upload over before the event is refused', (t) => {
  t.is(labOptionsProblem(base), null, 'VM tier');
  t.is(labOptionsProblem({ ...base, director: 'neigh', uploadBytes: 8 << 20, downloadBytes: 20 << 20, rate: '50mbit', timeoutS: 40 }), null, 'host tier and demo');
  // what the VM tier had: 2 MiB at 20 Mbit/s is 839 ms, over before the event at 1 s
  t.regex(labOptionsProblem({ ...base, uploadBytes: 2 << 20 })!, /lasts 839 ms, less than 1\.2 x the event time \(1000 ms\)/);
  t.regex(labOptionsProblem({ ...base, director: 'neigh', uploadBytes: 7 << 20, rate: '50mbit' })!, /the event would find the client silent/);
});
