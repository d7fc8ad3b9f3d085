// The director file's rules (listener model, health ranges, DR constraints) and the probe's reply check.
import test from 'ava';
import { DirectorFile, servicesOf, zeroWeightWarnings } from '../../src/director/config.js';
import { parseSave, plan } from '../../src/director/ipvs.js';
import { answersProbe, HealthTracker, makeProbe, PROBE_VERSION } from '../../src/director/health.js';

const rs = (address: string, port = 4433, weight?: number) => ({ address, port, ...(weight === undefined ? {} : { weight }) });
const file = (listener: object) => ({ listeners: [{ vip: '198.51.100.10:4433', realServers: [rs('192.0.2.1')], ...listener }] });

test('defaults: wrr, weight 1, health 2 s / 5 s / 3 / 3', (t) => {
  const f = DirectorFile.parse(file({}));
  t.like(f.listeners[0], { scheduler: 'wrr', health: { timeout: 2, interval: 5, unhealthyThreshold: 3, healthyThreshold: 3 } });
  t.deepEqual(servicesOf(f), [{ proto: 'udp', address: '198.51.100.10', port: 4433, scheduler: 'wrr', flags: [], extra: [], reals: [{ address: '192.0.2.1', port: 4433, method: 'g', weight: 1 }] }]);
});

const invalid: [string, object, RegExp][] = [
  ['DR cannot change ports', file({ realServers: [rs('192.0.2.1', 443)] }), /DR cannot change ports: real server port 443 differs from the listener port 4433/],
  ['family mismatch', file({ realServers: [rs('2001:db8::1')] }), /not of the VIP's address family/],
  ['unknown scheduler', file({ scheduler: 'rr' }), /Invalid enum value/],
  ['unknown scheduler flag', file({ scheduler: 'sh', flags: ['sh-ports'] }), /Invalid enum value/],
  ["another scheduler's flag", file({ scheduler: 'sh', flags: ['mh-port'] }), /mh-port is a flag of the mh scheduler, not of sh/],
  ['flag without its scheduler', file({ flags: ['sh-port'] }), /sh-port is a flag of the sh scheduler, not of wrr/],
  ['flag twice', file({ scheduler: 'mh', flags: ['mh-port', 'mh-port'] }), /listed twice/],
  ['interval below 5', file({ health: { interval: 4 } }), /greater than or equal to 5/],
  ['interval above 300', file({ health: { interval: 301 } }), /less than or equal to 300/],
  ['timeout above 60', file({ health: { timeout: 61, interval: 300 } }), /less than or equal to 60/],
  ['timeout over interval', file({ health: { timeout: 10, interval: 5 } }), /timeout must not exceed interval/],
  ['threshold 1', file({ health: { unhealthyThreshold: 1 } }), /greater than or equal to 2/],
  ['threshold 11', file({ health: { healthyThreshold: 11 } }), /less than or equal to 10/],
  ['weight above 65535', file({ realServers: [rs('192.0.2.1', 4433, 70000)] }), /less than or equal to 65535/],
  ['no real servers', file({ realServers: [] }), /at least 1/],
  ['duplicate real server', file({ realServers: [rs('192.0.2.1'), rs('192.0.2.1')] }), /listed twice/],
  ['port 0', { listeners: [{ vip: '198.51.100.10:0', realServers: [rs('192.0.2.1', 0)] }] }, /port must be 1\.\.65535/],
];
for (const [name, f, message] of invalid) {
  test(`refused: ${name}`, (t) => {
    const r = DirectorFile.safeParse(f);
    t.false(r.success);
    t.regex(r.error!.issues.map((i) => i.message).join('; '), message);
  });
}

test('one UDP port per VIP: the same listener twice is refused; other ports and IPv6 are fine', (t) => {
  const l = { vip: '198.51.100.10:4433', realServers: [rs('192.0.2.1')] };
  t.regex(DirectorFile.safeParse({ listeners: [l, l] }).error!.issues[0]!.message, /appears twice/);
  t.true(DirectorFile.safeParse({ listeners: [l, { vip: '198.51.100.10:443', realServers: [rs('192.0.2.1', 443)] }, { vip: '[2001:db8::10]:443', realServers: [rs('2001:db8::1', 443)] }] }).success);
});

test('scheduler flags reach the service sorted; ipvsadm gets them with -b and an -E when they change', (t) => {
  const f = DirectorFile.parse(file({ scheduler: 'sh', flags: ['sh-port', 'sh-fallback'] }));
  const [svc] = servicesOf(f);
  t.deepEqual(svc!.flags, ['sh-fallback', 'sh-port']);
  t.deepEqual(plan([], [svc!], new Set())[0], ['-A', '-u', '198.51.100.10:4433', '-s', 'sh', '-b', 'sh-fallback,sh-port']);
  const saved = parseSave('-A -u 198.51.100.10:4433 -s sh -b sh-port,sh-fallback\n-a -u 198.51.100.10:4433 -r 192.0.2.1:4433 -g -w 1\n');
  t.deepEqual(saved[0]!.flags, ['sh-fallback', 'sh-port']);
  t.deepEqual(plan(saved, [svc!], new Set()), [], 'the same flags in another order change nothing');
  t.deepEqual(plan(parseSave('-A -u 198.51.100.10:4433 -s sh\n-a -u 198.51.100.10:4433 -r 192.0.2.1:4433 -g -w 1\n'), [svc!], new Set()), [
    ['-E', '-u', '198.51.100.10:4433', '-s', 'sh', '-b', 'sh-fallback,sh-port'],
  ]);
});

test('the probe: reserved version, 1200 bytes; only a VN echoing our CIDs counts', (t) => {
  const p = makeProbe();
  t.is(p.packet.length, 1200);
  t.is(p.packet.readUInt32BE(1), PROBE_VERSION);
  t.is((PROBE_VERSION & 0x0f0f0f0f) >>> 0, 0x0a0a0a0a);
  const vn = (dcid: Buffer, scid: Buffer) => Buffer.concat([Buffer.from([0x80]), Buffer.alloc(4), Buffer.from([dcid.length]), dcid, Buffer.from([scid.length]), scid, Buffer.from([0, 0, 0, 1])]);
  t.true(answersProbe(vn(p.scid, p.dcid), p));
  t.false(answersProbe(vn(p.dcid, p.scid), p), 'CIDs swapped the wrong way');
  t.false(answersProbe(vn(p.scid, Buffer.alloc(8)), p), 'not our DCID');
  const notVn = vn(p.scid, p.dcid);
  notVn.writeUInt32BE(1, 1);
  t.false(answersProbe(notVn, p), 'version 1 is not VN');
  t.false(answersProbe(vn(p.scid, p.dcid).subarray(0, 20), p), 'truncated');
});

test('HealthTracker (director health and the agent): down after unhealthyThreshold failures in a row, up after healthyThreshold answers in a row; a streak broken starts over', (t) => {
  const h = { timeout: 2, interval: 5, unhealthyThreshold: 3, healthyThreshold: 2 };
  const tr = new HealthTracker('up', h);
  const seq = (xs: boolean[]) => xs.map((x) => tr.observe(x));
  t.deepEqual(seq([false, false, true, false, false]), [null, null, null, null, null], 'two failures, an answer, two failures: still up');
  t.deepEqual(seq([false]), ['down'], 'the third failure in a row');
  t.deepEqual(seq([false, true, false, true]), [null, null, null, null], 'answers not in a row: still down');
  t.deepEqual(seq([true]), ['up'], 'the second answer in a row');
  t.is(tr.state, 'up');
  const down = new HealthTracker('down', h);
  t.deepEqual([true, true].map((x) => down.observe(x)), [null, 'up'], 'a tracker that starts down (what the last agent learned) needs healthyThreshold answers');
});

test('zeroWeightWarnings: sh and mh without their fallback flag, when a weight is 0 in the file or a health check may make one', (t) => {
  const f = (l: object) => DirectorFile.parse(file(l));
  const drained = [rs('192.0.2.1'), rs('192.0.2.2', 4433, 0)];
  t.deepEqual(zeroWeightWarnings(f({ scheduler: 'wrr', realServers: drained }), { health: true }), [], 'wrr skips a weight-0 server by itself');
  t.deepEqual(zeroWeightWarnings(f({ scheduler: 'mh', flags: ['mh-port'] }), { health: false }), [], 'no weight 0 and no health checks: nothing drops');
  t.deepEqual(zeroWeightWarnings(f({ scheduler: 'mh', flags: ['mh-fallback'], realServers: drained }), { health: true }), [], 'the fallback flag skips it');
  t.deepEqual(zeroWeightWarnings(f({ scheduler: 'sh', flags: ['sh-port'], realServers: drained }), { health: false }), [
    'listener 198.51.100.10:4433: sh without sh-fallback drops the new flows that hash to a real server at weight 0 (192.0.2.2:4433 in the file): add "sh-fallback" to its flags',
  ]);
  t.deepEqual(zeroWeightWarnings(f({ scheduler: 'mh' }), { health: true }), [
    'listener 198.51.100.10:4433: mh without mh-fallback drops the new flows that hash to a real server at weight 0 (one a health check takes down): add "mh-fallback" to its flags',
  ]);
});
