// Input that must be refused before anything is touched: servers' MACs that are not unicast, VIPs that
// are not one unicast address, config files with repeated keys or broken JSON, stats intervals out of range.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { ConfigFile, Mac, VipEndpoint, checkUnicastMac, findDuplicateKey, jsonErrorAt } from '../../src/control/schemas.js';
import { DirectorFile } from '../../src/director/config.js';

// a pin path nothing can be created in: a command that got past its input checks would fail with 1, not 2
const PIN = ['--pin-path', '/dev/null/quicsteer'];

function refused(t: import('ava').ExecutionContext, args: string[], message: RegExp): void {
  const r = cli([...PIN, ...args]);
  t.is(r.code, 2, r.stderr);
  t.is(r.stdout, '');
  t.regex(r.stderr.split('\n')[0]!, message);
  t.true(r.stderr.trim().split('\n').length <= 2, r.stderr);
}

const badMacs: [string, RegExp][] = [
  ['ff:ff:ff:ff:ff:ff', /broadcast MAC would flood/],
  ['FF-FF-FF-FF-FF-FF', /broadcast MAC would flood/],
  ['01:00:5e:00:00:01', /multicast MAC \(low bit of the first octet set\)/],
  ['33:33:00:00:00:01', /multicast MAC/],
  ['03:00:00:00:00:01', /multicast MAC/],
  ['00:00:00:00:00:00', /all-zero MAC/],
];
for (const [mac, why] of badMacs) {
  test(`servers add --mac ${mac}: refused, exit 2`, (t) => refused(t, ['servers', 'add', '0a0b', '--mac', mac], new RegExp(`^quicsteer: bad --mac '${mac}': .*${why.source}`)));
}

test('the Mac schema, the apply file and checkUnicastMac agree: unicast (also locally administered) passes, the rest is refused', (t) => {
  for (const ok of ['02:00:00:00:00:01', '00:11:22:33:44:55', 'fe:ff:ff:ff:ff:ff']) {
    t.true(Mac.safeParse(ok).success, ok);
    t.notThrows(() => checkUnicastMac(ok, 'MAC of 192.0.2.3'));
  }
  for (const [mac, why] of badMacs) {
    t.regex(Mac.safeParse(mac).error!.issues[0]!.message, why);
    const e = t.throws(() => checkUnicastMac(mac, 'MAC of 192.0.2.3 (neighbour table)'));
    t.regex(e!.message, new RegExp(`^bad MAC of 192\\.0\\.2\\.3 \\(neighbour table\\) '${mac}': .*${why.source}`));
    t.is((e as { exitCode?: number }).exitCode, 2);
    const f = ConfigFile.safeParse({ localId: '0a0b', servers: [{ id: '01', mac }] });
    t.false(f.success, mac);
    t.deepEqual(f.error!.issues[0]!.path, ['servers', 0, 'mac']);
  }
});

const badVips: [string, RegExp][] = [
  ['0.0.0.0:443', /the unspecified address 0\.0\.0\.0 is not a VIP/],
  ['[::]:443', /the unspecified address :: is not a VIP/],
  ['[0:0:0:0:0:0:0:0]:443', /the unspecified address :: is not a VIP/],
  ['224.0.0.1:443', /224\.0\.0\.1 is multicast \(224\.0\.0\.0\/4\)/],
  ['239.255.255.250:443', /is multicast/],
  ['255.255.255.255:443', /the broadcast address 255\.255\.255\.255 is not a VIP/],
  ['[ff02::1]:443', /ff02::1 is multicast \(ff00::\/8\)/],
  ['[::ffff:192.0.2.10]:443', /::ffff:192\.0\.2\.10 is IPv4-mapped: .* write 192\.0\.2\.10$/],
  ['[::ffff:c000:20a]:443', /IPv4-mapped: .* write 192\.0\.2\.10$/],
];
for (const [vip, why] of badVips) {
  test(`vips add ${vip}: refused, exit 2`, (t) => refused(t, ['vips', 'add', vip, '--cid', 'msquic'], new RegExp(`^quicsteer: bad VIP address '${vip.replace(/[[\].]/g, '\\$&')}': .*${why.source}`)));
}

test('VIPs: the apply file and the director file refuse the same; unicast ones (IPv4-compatible and NAT64 too) pass', (t) => {
  for (const ok of ['192.0.2.10:443', '[2001:db8::1]:443', '[::1]:443', '[64:ff9b::c000:20a]:443', '223.255.255.255:443', '240.0.0.1:443'])
    t.true(VipEndpoint.safeParse(ok).success, ok);
  for (const [vip, why] of badVips) {
    const a = ConfigFile.safeParse({ localId: '0a0b', vips: [{ address: vip, cid: 'msquic' }] });
    t.regex(a.error!.issues[0]!.message, why, vip);
    t.deepEqual(a.error!.issues[0]!.path, ['vips', 0, 'address']);
    const d = DirectorFile.safeParse({ listeners: [{ vip, realServers: [{ address: vip.includes('[') ? '2001:db8::2' : '192.0.2.2', port: 443 }] }] });
    t.regex(d.error!.issues.map((i) => i.message).join('; '), why, vip);
  }
});

test('vips remove still takes any address: a VIP added before these checks can be removed', (t) => {
  const r = cli([...PIN, 'vips', 'remove', '0.0.0.0:443']);
  t.not(r.code, 2, r.stderr);
  t.notRegex(r.stderr, /bad VIP address/);
});

test('duplicate JSON keys at any depth: the first repeat, its object and its line and column', (t) => {
  t.is(findDuplicateKey('{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}'), null);
  t.deepEqual(findDuplicateKey('{"a":1,"a":2}'), { key: 'a', at: '(top level)', line: 1, column: 8 });
  t.deepEqual(findDuplicateKey('{"s":[{"id":"01"},\n {"id":"02","mac":"x","id":"03"}]}'), { key: 'id', at: 's[1]', line: 2, column: 23 });
  // the same key spelt with an escape is the same key; a string value that looks like a key is not one
  t.like(findDuplicateKey('{"k":"\\"k\\":","\\u006b":1}'), { key: 'k' });
  t.is(findDuplicateKey('{"a":"\\"a\\": 1","b":["a","a"]}'), null);
  t.like(findDuplicateKey('{"x y":{"q":1,"q":2}}'), { key: 'q', at: '["x y"]' });
});

test('apply -f and director apply -f: a repeated key is refused with the file and the key, exit 2', (t) => {
  const dir = tempDir('qs-val');
  {
    const f = path.join(dir, 'cfg.json');
    writeFileSync(f, '{\n  "localId": "0a0b",\n  "servers": [\n    { "id": "01", "mac": "02:00:00:00:00:01", "mac": "02:00:00:00:00:02" }\n  ]\n}\n');
    refused(t, ['apply', '-f', f], new RegExp(`^quicsteer: ${f}: key "mac" given twice in servers\\[0\\] \\(line 4, column 47\\)`));
    refused(t, ['apply', '-f', f, '--dry-run'], /key "mac" given twice/);
    const d = path.join(dir, 'director.json');
    writeFileSync(d, '{"listeners":[{"vip":"198.51.100.10:4433","realServers":[{"address":"192.0.2.1","port":4433}],"scheduler":"sh","scheduler":"wrr"}]}');
    refused(t, ['director', 'apply', '-f', d, '--dry-run'], new RegExp(`^quicsteer: ${d}: key "scheduler" given twice in listeners\\[0\\]`));
    writeFileSync(d, '{"listeners":[],"listeners":[]}');
    refused(t, ['director', 'apply', '-f', d], /key "listeners" given twice in \(top level\)/);
  }
});

test('broken JSON: the file, the line and column, the reason on one line', (t) => {
  t.is(jsonErrorAt('{"a":[1,2]}'), -1);
  t.is(jsonErrorAt('{"a":[1,2,]}'), 10);
  t.is(jsonErrorAt('{"a":1}x'), 7);
  t.is(jsonErrorAt(''), 0);
  const dir = tempDir('qs-val');
  {
    const f = path.join(dir, 'cfg.json');
    writeFileSync(f, '{\n  "localId": "0a0b",\n  "vips": [ { "address": "192.0.2.10:443" "cid": "msquic" } ]\n}\n');
    refused(t, ['apply', '-f', f], new RegExp(`^quicsteer: ${f}: not JSON at line 3, column 43 \\(.+\\)$`));
    writeFileSync(f, '');
    refused(t, ['apply', '-f', f], new RegExp(`^quicsteer: ${f}: not JSON at line 1, column 1 \\(Unexpected end of JSON input\\)$`));
  }
});

test('a file that cannot be read: "cannot read <file>: <code>", exit 1, never "kernel refused"', (t) => {
  for (const args of [['apply', '-f', '/nonexistent/qs.json'], ['director', 'apply', '-f', '/nonexistent/qs.json', '--dry-run'], ['apply', '-f', '/']]) {
    const r = cli([...PIN, ...args]);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, new RegExp(`^quicsteer: cannot read ${args[args.indexOf('-f') + 1]}: E[A-Z]+ \\([a-z ]+\\)\\n$`));
  }
});

test('stats: --watch below 0.1 s or above an hour, and --count without --watch, are refused with the range', (t) => {
  for (const w of ['1e-9', '0', '0.05', '-1', '3601', 'NaN', 'soon']) refused(t, ['stats', '--watch', w], new RegExp(`^quicsteer: bad --watch '${w}': seconds, 0\\.1 to 3600$`));
  refused(t, ['stats', '--count', '2'], /^quicsteer: stats: --count needs --watch/);
});
