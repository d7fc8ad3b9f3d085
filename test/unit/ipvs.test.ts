// The reconcile logic against real ipvsadm output captured in the test VM (test/fixtures/ipvsadm).
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { ipvsadmFailure, parseSave, plan, serviceKey, type Service } from '../../src/director/ipvs.js';

const fixture = (f: string) => readFileSync(path.join(ROOT, 'test/fixtures/ipvsadm', f), 'utf8');
const table = parseSave(fixture('save-n.txt'));
const all = new Set(table.map(serviceKey));
const clone = (s: Service[]): Service[] => JSON.parse(JSON.stringify(s)) as Service[];

test('parses every service of the captured table: IPv4 and IPv6, schedulers, flags, persistence, weights', (t) => {
  t.deepEqual(table.map((s) => [serviceKey(s), s.scheduler, s.flags.join(','), s.extra.join(' ')]), [
    ['udp 198.51.100.10:4433', 'wrr', '', ''],
    ['udp 198.51.100.11:443', 'wlc', '', ''],
    ['udp 198.51.100.12:443', 'sh', 'sh-fallback,sh-port', ''],
    ['udp 198.51.100.13:4433', 'wrr', '', '-p 300'],
    ['udp [2001:db8::10]:4433', 'mh', 'mh-fallback,mh-port', ''],
    ['udp [2001:db8::11]:443', 'mh', '', ''],
    ['udp [2001:db8::12]:4433', 'wrr', '', ''],
  ]);
  t.deepEqual(table[0]!.reals, [
    { address: '192.0.2.1', port: 4433, method: 'g', weight: 3 },
    { address: '192.0.2.2', port: 4433, method: 'g', weight: 1 },
    { address: '192.0.2.3', port: 4433, method: 'g', weight: 0 },
  ]);
  t.deepEqual(table[4]!.reals.map((r) => [r.address, r.weight]), [['2001:db8:1::1', 2], ['2001:db8:1::2', 0]]);
  t.deepEqual(parseSave(fixture('empty-save-n.txt')), []);
});

test('the same table plans no call', (t) => {
  t.deepEqual(plan(table, clone(table), all), []);
});

test('one weight changed: exactly one edit of that real server', (t) => {
  const want = clone(table);
  want[1]!.reals[1]!.weight = 9;
  t.deepEqual(plan(table, want, all), [['-e', '-u', '198.51.100.11:443', '-r', '192.0.2.5:443', '-g', '-w', '9']]);
});

test('real servers added and removed, a managed service dropped, a scheduler changed keeping persistence', (t) => {
  const want = clone(table).filter((s) => serviceKey(s) !== 'udp [2001:db8::11]:443');
  want[0]!.reals = want[0]!.reals.filter((r) => r.address !== '192.0.2.3');
  want[6 - 1]!.reals.push({ address: '2001:db8:1::6', port: 4433, method: 'g', weight: 1 });
  want[3]!.scheduler = 'wlc';
  t.deepEqual(plan(table, want, all), [
    ['-d', '-u', '198.51.100.10:4433', '-r', '192.0.2.3:4433'],
    ['-E', '-u', '198.51.100.13:4433', '-s', 'wlc', '-p', '300'],
    ['-a', '-u', '[2001:db8::12]:4433', '-r', '[2001:db8:1::6]:4433', '-g', '-w', '1'],
    ['-D', '-u', '[2001:db8::11]:443'],
  ]);
});

test('services quicsteer does not manage are never touched', (t) => {
  const mine = new Set(['udp 198.51.100.10:4433']);
  const want = clone(table).filter((s) => serviceKey(s) === 'udp 198.51.100.10:4433');
  t.deepEqual(plan(table, want, mine), []);
  t.deepEqual(plan(table, [], mine), [['-D', '-u', '198.51.100.10:4433']]);
});

test('a new service from an empty table: the service first, then its real servers', (t) => {
  const want = clone(table).slice(0, 1);
  t.deepEqual(plan([], want, new Set()), [
    ['-A', '-u', '198.51.100.10:4433', '-s', 'wrr'],
    ['-a', '-u', '198.51.100.10:4433', '-r', '192.0.2.1:4433', '-g', '-w', '3'],
    ['-a', '-u', '198.51.100.10:4433', '-r', '192.0.2.2:4433', '-g', '-w', '1'],
    ['-a', '-u', '198.51.100.10:4433', '-r', '192.0.2.3:4433', '-g', '-w', '0'],
  ]);
});

test('the captured failure of a kernel without IPVS becomes one clear line; others keep their first line', (t) => {
  const [exit, ...stderr] = fixture('no-ipvs.txt').split('\n');
  t.is(exit, 'exit=2');
  t.is(
    ipvsadmFailure(['-Ln'], 2, stderr.join('\n')).message,
    "IPVS is not available in this kernel (ipvsadm: Can't initialize ipvs: Protocol not available): the director needs CONFIG_IP_VS or the ip_vs module",
  );
  t.is(ipvsadmFailure(['-S'], 'ENOENT', '').message, 'ipvsadm not found: install it (apt-get install ipvsadm)');
  t.is(ipvsadmFailure(['-a', '-u', 'x'], 2, 'Service not defined\n').message, 'ipvsadm -a -u x: Service not defined');
});

test('a line ipvsadm never prints is an error, not a guess', (t) => {
  t.throws(() => parseSave('-Z -u 1.2.3.4:5'), { message: /cannot read/ });
  t.throws(() => parseSave('-a -u 1.2.3.4:5 -r 1.1.1.1:5 -g -w 1'), { message: /before its service/ });
});
