// Bad input gets one clear line and exit 2 before anything is touched; cid decode/encode need no privileges.
import test from 'ava';
import { cli } from '../helpers/cli.js';
import { isRoot } from '../helpers/env.js';
import { formatSpec, parseSpec, sameSpecs, specsToVip, vipToSpecs } from '../../src/control/spec.js';
import { CidFormat } from '../../src/bpf/layout.js';
import { vipValue } from '../../src/datapath/tables.js';

// a pin path nothing can be created in: a command that got past its input checks would fail with 1, not 2
const PIN = ['--pin-path', '/dev/null/quicsteer'];

const bad: [string, string[], RegExp][] = [
  ['bad VIP address', ['vips', 'add', '192.0.2:443', '--cid', 'msquic'], /^quicsteer: bad VIP address '192\.0\.2:443': expected <ipv4>:<port> or \[<ipv6>\]:<port>$/],
  ['bad VIP port', ['vips', 'add', '192.0.2.1:0', '--cid', 'msquic'], /port must be 1\.\.65535/],
  ['IPv6 without brackets', ['vips', 'add', '2001:db8::1:443', '--cid', 'msquic'], /bad VIP address/],
  ['bad server IP', ['servers', 'add', '0a0b', '--ip', '300.1.1.1'], /^quicsteer: bad --ip '300\.1\.1\.1': not an IPv4 or IPv6 address$/],
  ['bad MAC', ['servers', 'add', '0a0b', '--mac', '02:00:00'], /^quicsteer: bad --mac '02:00:00': MAC must be six hex bytes/],
  ['both --mac and --ip', ['servers', 'add', '0a0b', '--mac', '02:00:00:00:00:01', '--ip', '192.0.2.1'], /give exactly one of --mac and --ip/],
  ['neither --mac nor --ip', ['servers', 'add', '0a0b'], /give exactly one of --mac and --ip/],
  ['odd-length server ID', ['servers', 'add', 'abc', '--mac', '02:00:00:00:00:01'], /^quicsteer: bad server ID 'abc': server ID must be 1\.\.15 bytes of hex/],
  ['16-byte server ID', ['attach', 'lo', '--id', '00'.repeat(16)], /server ID must be 1\.\.15 bytes/],
  ['bad state', ['servers', 'set', '0a0b', '--state', 'sleeping'], /^quicsteer: bad --state 'sleeping'/],
  ['bad mode', ['attach', 'lo', '--id', '0a0b', '--mode', 'offload'], /^quicsteer: bad --mode 'offload'/],
  ['quic-lb sid too long', ['vips', 'add', '192.0.2.1:443', '--cid', 'quic-lb:sid=16'], /sid must be 1\.\.15, got 16/],
  ['quic-lb nonce too short', ['vips', 'add', '192.0.2.1:443', '--cid', 'quic-lb:sid=2,nonce=3'], /nonce must be 4\.\.17, got 3/],
  ['quic-lb cr 7 is unroutable', ['vips', 'add', '192.0.2.1:443', '--cid', 'quic-lb:sid=2,cr=7'], /cr must be 0\.\.6, got 7/],
  ['fixed without len', ['vips', 'add', '192.0.2.1:443', '--cid', 'fixed:offset=1'], /fixed needs offset=<n>,len=<n>/],
  ['unknown layout', ['vips', 'add', '192.0.2.1:443', '--cid', 'random'], /bad CID spec 'random': expected quic-lb/],
  ['unknown spec parameter', ['vips', 'add', '192.0.2.1:443', '--cid', 'quic-lb:sid=2,salt=1'], /unknown parameter 'salt'/],
  ['a key inline outside cid encode/decode', ['vips', 'add', '192.0.2.1:443', '--cid', `quic-lb:sid=3,nonce=13,key=${'ab'.repeat(16)}`], /^quicsteer: bad CID spec 'quic-lb:sid=3,nonce=13,key=\(hidden\)': keys are not written inline here \(the process list and copied files would show them\): put the key in a file/],
  ['a short inline key', ['cid', 'decode', '00', '--cid', 'quic-lb:sid=3,nonce=13,key=abcd'], /^quicsteer: bad CID spec 'quic-lb:sid=3,nonce=13,key=\(hidden\)': key: expected 32 hex digits/],
  ['key and key-file both', ['cid', 'decode', '00', '--cid', `quic-lb:sid=3,key=${'ab'.repeat(16)},key-file=/x`], /give key-file=<path> or key=<hex>, not both/],
  ['key-file on another layout', ['vips', 'add', '192.0.2.1:443', '--cid', 'fixed:offset=1,len=4,key-file=/x'], /unknown parameter 'key-file'/],
  ['empty key-file', ['vips', 'add', '192.0.2.1:443', '--cid', 'quic-lb:sid=2,key-file='], /'key-file=' is not key-file=<value>/],
  ['--nonce of the wrong length', ['cid', 'encode', '--cid', 'quic-lb:sid=2,nonce=4', '--id', '0a0b', '--nonce', '0102'], /--nonce 0102 is 2 bytes, but quic-lb:sid=2,nonce=4 takes a 4-byte nonce/],
  ['--nonce for a layout without one', ['cid', 'encode', '--cid', 'msquic', '--id', '0a0b0c0d', '--nonce', '01020304'], /only quic-lb CIDs carry a nonce/],
  ['two layouts mixed', ['vips', 'add', '192.0.2.1:443', '--cid', 'msquic', '--cid', 'mvfst'], /only quic-lb takes several configs|cannot be mixed/],
  ['missing --cid', ['vips', 'add', '192.0.2.1:443'], /required option '--cid <spec>' not specified/],
  ['missing --id', ['attach', 'lo'], /required option '--id <server-id>' not specified/],
  ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
  ['bad --watch', ['stats', '--watch', '0'], /bad --watch '0'/],
  ['id longer than the layout carries', ['cid', 'encode', '--cid', 'quic-lb:sid=2', '--id', '0a0b0c'], /server ID 0a0b0c is 3 bytes, but quic-lb:sid=2,nonce=4 carries 2-byte IDs/],
  ['bad hex CID', ['cid', 'decode', 'xyz', '--cid', 'mvfst'], /bad connection ID 'xyz'/],
  // server IDs in MsQuic's forms: every command that takes one says what is wrong with it
  ['msquic-fixed above uint32', ['cid', 'encode', '--cid', 'msquic', '--id', 'msquic-fixed:4294967296'], /^quicsteer: bad --id 'msquic-fixed:4294967296': msquic-fixed: '4294967296' is not a uint32 \(FixedServerID: 0\.\.4294967295, decimal or 0x-hex\)$/],
  ['msquic-fixed not a number', ['cid', 'encode', '--cid', 'msquic', '--id', 'msquic-fixed:0x1g'], /^quicsteer: bad --id 'msquic-fixed:0x1g': msquic-fixed: '0x1g' is not a uint32/],
  ['msquic-fixed negative', ['servers', 'add', 'msquic-fixed:-1', '--mac', '02:00:00:00:00:01'], /^quicsteer: bad server ID 'msquic-fixed:-1': msquic-fixed: '-1' is not a uint32/],
  ['msquic-ip not an address', ['cid', 'encode', '--cid', 'msquic', '--id', 'msquic-ip:300.1.1.1'], /^quicsteer: bad --id 'msquic-ip:300\.1\.1\.1': msquic-ip: '300\.1\.1\.1' is not an IPv4 or IPv6 address/],
  ['msquic-ip in servers add', ['servers', 'add', 'msquic-ip:10.0.0', '--mac', '02:00:00:00:00:01'], /^quicsteer: bad server ID 'msquic-ip:10\.0\.0': msquic-ip: '10\.0\.0' is not an IPv4 or IPv6 address/],
  ['msquic-ip in servers set', ['servers', 'set', 'msquic-ip:x', '--state', 'up'], /^quicsteer: bad server ID 'msquic-ip:x': msquic-ip: 'x' is not an IPv4/],
  ['msquic-fixed in servers remove', ['servers', 'remove', 'msquic-fixed:1e3'], /^quicsteer: bad server ID 'msquic-fixed:1e3': msquic-fixed: '1e3' is not a uint32/],
  ['msquic-fixed in attach', ['attach', 'lo', '--id', 'msquic-fixed:99999999999'], /^quicsteer: bad --id 'msquic-fixed:99999999999': msquic-fixed: '99999999999' is not a uint32/],
  ['unknown server ID form', ['attach', 'lo', '--id', 'msquic-addr:10.0.0.1'], /^quicsteer: bad --id 'msquic-addr:10\.0\.0\.1': unknown server ID form 'msquic-addr:'/],
  ['msquic-ip for a 2-byte layout', ['cid', 'encode', '--cid', 'quic-lb:sid=2', '--id', 'msquic-ip:10.0.0.5'], /^quicsteer: server ID 0a000005 is 4 bytes, but quic-lb:sid=2,nonce=4 carries 2-byte IDs$/],
  ['unknown demo event', ['demo', '--event', 'teleport'], /argument 'teleport' is invalid. Allowed choices are nat-rebinding, migration, client-rebinding/],
  ['demo size 0', ['demo', '--upload', '0'], /^quicsteer: --upload must be a whole number of MiB, 8\.\.256: '0'$/],
  ['demo upload over before the change', ['demo', '--upload', '7'], /^quicsteer: --upload must be a whole number of MiB, 8\.\.256: '7'$/],
  ['demo size not a number', ['demo', '--download', '2x'], /^quicsteer: --download must be a whole number of MiB, 8\.\.256: '2x'$/],
  ['demo download shorter than the change', ['demo', '--download', '4'], /^quicsteer: --download must be a whole number of MiB, 8\.\.256: '4'$/],
];

for (const [name, args, message] of bad) {
  test(`${name}: exit 2, one line`, (t) => {
    const r = cli([...PIN, ...args]);
    t.is(r.code, 2, r.stderr);
    t.is(r.stdout, '');
    t.regex(r.stderr.split('\n')[0]!, message);
    // one line of error (commander adds a usage hint after it)
    t.true(r.stderr.trim().split('\n').length <= 2, r.stderr);
  });
}

test('without capabilities: one line naming the missing ones, exit 1', (t) => {
  const r = cli(['status'], isRoot ? { asUser: 65534 } : {});
  t.is(r.code, 1);
  t.is(r.stderr, 'quicsteer: status needs CAP_BPF and CAP_NET_ADMIN (missing CAP_BPF and CAP_NET_ADMIN): run it as root (sudo) or with those capabilities\n');
});

test('cid encode and decode round-trip for every layout, unprivileged', (t) => {
  // layout, --id, the wire ID, the CID's length
  const cases: [string[], string, string, number][] = [
    [['quic-lb:sid=2,nonce=6'], '0a0b', '0a0b', 9],
    [['quic-lb:sid=2', 'quic-lb:sid=3,cr=1'], '0a0b0c', '0a0b0c', 8],
    [['msquic'], 'c0000202', 'c0000202', 14],
    [['msquic'], 'msquic-ip:192.0.2.2', 'c0000202', 14],
    [['msquic'], 'msquic-ip:2001:db8::c000:202', 'c0000202', 14],
    [['msquic'], 'msquic-fixed:0x020200c0', 'c0000202', 14],
    [['msquic'], 'msquic-fixed:33685696', 'c0000202', 14],
    [['fixed:offset=1,len=4'], 'msquic-fixed:0x0a0b0c0d', '0d0c0b0a', 8],
    [['fixed:offset=3,len=2'], 'beef', 'beef', 8],
    [['mvfst'], '1234', '1234', 8],
    [['mvfst'], '123456', '123456', 8],
    [['mvfst'], '12345678', '12345678', 8],
  ];
  for (const [specs, id, wire, len] of cases) {
    const cid = specs.flatMap((s) => ['--cid', s]);
    const enc = cli(['cid', 'encode', ...cid, '--id', id], isRoot ? { asUser: 65534 } : {});
    t.is(enc.code, 0, enc.stderr);
    t.is(enc.stdout.trim().length, 2 * len, `${specs.join(' ')}: ${len}-byte CIDs`);
    const dec = cli(['cid', 'decode', enc.stdout.trim(), ...cid, '--json'], isRoot ? { asUser: 65534 } : {});
    const d = JSON.parse(dec.stdout) as Record<string, unknown>;
    t.deepEqual([d.cid, d.serverId, d.reason, d.encrypted], [enc.stdout.trim(), wire, null, false], `${specs.join(' ')} --id ${id}`);
    t.is(d.configRotation, specs[0]!.startsWith('quic-lb') ? Buffer.from(enc.stdout.trim(), 'hex')[0]! >> 5 : null);
  }
  const un = cli(['cid', 'decode', 'e80a0b010203', '--cid', 'quic-lb:sid=2']);
  t.is(un.stdout, 'unroutable (unroutable_cid)\n');
});

test('spec text round-trips through the table value', (t) => {
  for (const s of ['quic-lb:sid=2,nonce=4', 'quic-lb:sid=15,nonce=4,cr=6', 'msquic', 'fixed:offset=0,len=8', 'mvfst'])
    t.deepEqual(vipToSpecs(specsToVip([parseSpec(s)], 't')).map(formatSpec), [s]);
  t.is(formatSpec(parseSpec('quic-lb:sid=2')), 'quic-lb:sid=2,nonce=4');
  t.is(formatSpec(parseSpec('fixed:offset=1,len=4')), 'fixed:offset=1,len=4');
});

test("msquic and fixed:offset=1,len=4 differ by the short header's CID length (14 and 5): an older build's msquic VIP reads as the latter", (t) => {
  t.like(specsToVip([parseSpec('msquic')], 't'), { cid_format: CidFormat.FIXED, sid_offset: 1, sid_len: 4, dcid_len: 14 });
  t.like(specsToVip([parseSpec('fixed:offset=1,len=4')], 't'), { cid_format: CidFormat.FIXED, sid_offset: 1, sid_len: 4, dcid_len: 5 });
  // what a build before 14-byte MsQuic CIDs pinned for msquic
  const older = vipValue({ cid_format: CidFormat.FIXED, sid_offset: 1, sid_len: 4, dcid_len: 5 });
  t.deepEqual(vipToSpecs(older).map(formatSpec), ['fixed:offset=1,len=4']);
  t.false(sameSpecs(vipToSpecs(older), [parseSpec('msquic')]), 'msquic over it is a change');
  t.true(sameSpecs(vipToSpecs(specsToVip([parseSpec('msquic')], 't')), [parseSpec('msquic')]));
});

test('cid decode --cid msquic: the ID also as the MsQuic settings that make it (text and --json)', (t) => {
  const as = isRoot ? { asUser: 65534 } : {};
  // random octet, server ID 0a000005, partition 7, payload
  const cid = '3c' + '0a000005' + '0700' + '77'.repeat(7);
  t.is(cli(['cid', 'decode', cid, '--cid', 'msquic'], as).stdout, '0a000005 (msquic-ip:10.0.0.5 or msquic-fixed:0x0500000a)\n');
  t.deepEqual(JSON.parse(cli(['cid', 'decode', cid, '--cid', 'msquic', '--json'], as).stdout), {
    cid, serverId: '0a000005', nonce: null, configRotation: null, encrypted: false, reason: null,
    msquic: { ip: 'msquic-ip:10.0.0.5', fixed: 'msquic-fixed:0x0500000a' },
  });
  // both forms it names give the same CID bytes back
  for (const form of ['msquic-ip:10.0.0.5', 'msquic-fixed:0x0500000a']) t.is(JSON.parse(cli(['cid', 'encode', '--cid', 'msquic', '--id', form, '--json'], as).stdout).serverId, '0a000005');
  // other layouts name no MsQuic setting
  t.is(cli(['cid', 'decode', cid, '--cid', 'fixed:offset=1,len=4'], as).stdout, '0a000005\n');
  t.false('msquic' in JSON.parse(cli(['cid', 'decode', cid, '--cid', 'fixed:offset=1,len=4', '--json'], as).stdout));
  t.is(cli(['cid', 'decode', '3c0a0000', '--cid', 'msquic'], as).stdout, 'unroutable (unroutable_cid)\n');
});

test('QUIC-LB draft plaintext vector: cr 0, server ID c4605e, nonce 4504cc4f <-> 07c4605e4504cc4f', (t) => {
  const as = isRoot ? { asUser: 65534 } : {};
  const enc = cli(['cid', 'encode', '--cid', 'quic-lb:sid=3,nonce=4', '--id', 'c4605e', '--nonce', '4504cc4f'], as);
  t.is(enc.stdout, '07c4605e4504cc4f\n', enc.stderr);
  t.is(cli(['cid', 'decode', '07c4605e4504cc4f', '--cid', 'quic-lb:sid=3,nonce=4'], as).stdout, 'c4605e\n');
  t.like(JSON.parse(cli(['cid', 'decode', '07c4605e4504cc4f', '--cid', 'quic-lb:sid=3,nonce=4', '--json'], as).stdout), { serverId: 'c4605e', nonce: '4504cc4f', configRotation: 0, encrypted: false });
});
