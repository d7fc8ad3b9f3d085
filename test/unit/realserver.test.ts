// realserver without privileges: which VIPs setup refuses (exit 2, one line, before anything is touched)
// and what a record read back may hold (only the four sysctls setup touches, small values, VIP addresses).
import test from 'ava';
import { cli } from '../helpers/cli.js';
import { RealServerRecord } from '../../src/realserver/record.js';
import { ipv6Bytes, normVip, vipProblem } from '../../src/realserver/vip.js';

// a state path nothing can be created in: a command that got past its input checks would fail with 1, not 2
const STATE = ['--state', '/dev/null/quicsteer/rs.json'];

const refused: [string, RegExp][] = [
  ['0.0.0.0', /unspecified/],
  ['0.1.2.3', /unspecified/],
  ['255.255.255.255', /broadcast/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['127.0.0.2', /loopback/],
  ['169.254.1.1', /link-local/],
  ['::', /unspecified/],
  ['::1', /loopback/],
  ['ff02::1', /multicast/],
  ['fe80::1', /link-local/],
  ['febf::1', /link-local/],
  ['::ffff:192.0.2.10', /IPv4-mapped IPv6 address never matches IPv4 traffic: write it as IPv4 \(192\.0\.2\.10\)/],
  ['::ffff:c000:20a', /write it as IPv4 \(192\.0\.2\.10\)/],
];

for (const [vip, why] of refused)
  test(`realserver setup refuses VIP ${vip}: one line, exit 2, nothing touched`, (t) => {
    t.regex(vipProblem(vip) ?? '', why);
    const r = cli(['realserver', 'setup', '--vip', '198.51.100.10', vip, ...STATE]);
    t.is(r.code, 2, r.stderr);
    t.is(r.stdout, '');
    t.regex(r.stderr, new RegExp(`^quicsteer: bad --vip '${vip.replace(/\./g, '\\.')}': [^\\n]*\\n$`));
    t.regex(r.stderr, why);
  });

test('unicast VIPs pass; one spelling per IPv6 address', (t) => {
  for (const v of ['192.0.2.10', '198.51.100.255', '10.0.0.1', '2001:db8::10', 'fec0::1', 'fc00::1', '64:ff9b::c000:20a']) t.is(vipProblem(v), undefined, v);
  t.is(normVip('2001:DB8:0:0::10'), '2001:db8::10');
  t.deepEqual(ipv6Bytes('::ffff:192.0.2.10').slice(10), [0xff, 0xff, 192, 0, 2, 10]);
  t.deepEqual(ipv6Bytes('1::'), [0, 1, ...Array<number>(14).fill(0)]);
});

const good = {
  version: 1,
  netns: { dev: 4, ino: 4026531840 },
  complete: true,
  addresses: ['198.51.100.10', '2001:DB8::10'],
  sysctls: { 'net/ipv4/conf/all/arp_ignore': '0', 'net/ipv4/conf/lo/arp_announce': '1' },
};

test('a record setup writes is read back, addresses in one spelling', (t) => {
  const r = RealServerRecord.safeParse(good);
  t.true(r.success);
  t.deepEqual(r.data?.addresses, ['198.51.100.10', '2001:db8::10']);
});

const badRecords: [string, unknown, RegExp][] = [
  ['a traversal key', { ...good, sysctls: { '../../../../tmp/x': '1' } }, /key "\.\.\/\.\.\/\.\.\/\.\.\/tmp\/x" is not a sysctl setup changes/],
  ['another sysctl', { ...good, sysctls: { 'net/ipv4/ip_forward': '1' } }, /key "net\/ipv4\/ip_forward" is not a sysctl setup changes/],
  ['an interface other than all and lo', { ...good, sysctls: { 'net/ipv4/conf/eth0/arp_ignore': '1' } }, /is not a sysctl setup changes/],
  ['a value that is not a small integer', { ...good, sysctls: { 'net/ipv4/conf/all/arp_ignore': '1\n0' } }, /not a small integer/],
  ['a huge value', { ...good, sysctls: { 'net/ipv4/conf/all/arp_ignore': '99999' } }, /not a small integer/],
  ['a number, not a string', { ...good, sysctls: { 'net/ipv4/conf/all/arp_ignore': 1 } }, /string/],
  ['an address that is not an IP', { ...good, addresses: ['lo; rm -rf /'] }, /not an IPv4 or IPv6 address/],
  ['an address that is no VIP', { ...good, addresses: ['127.0.0.1'] }, /loopback/],
  ['an unknown field', { ...good, extra: 1 }, /Unrecognized key/],
  ['no namespace', { ...good, netns: undefined }, /Required/],
  ['another version', { ...good, version: 2 }, /Invalid literal/],
];

for (const [what, rec, why] of badRecords)
  test(`a record with ${what} is refused`, (t) => {
    const r = RealServerRecord.safeParse(rec);
    t.false(r.success);
    t.regex(r.error?.issues.map((i) => i.message).join('; ') ?? '', why);
  });
