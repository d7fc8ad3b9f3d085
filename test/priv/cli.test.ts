// Every quicsteer command, run as a separate process inside a namespace the test creates, with its
// state pinned in a private bpffs: attach/detach, status, vips, servers, stats, apply, bad input.
import test from 'ava';
import { tempDir } from '../helpers/tmp.js';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ObjectSpec, Link, type Collection } from '../../src/bpf/index.js';
import { native } from '../../src/bpf/native.js';
import { privileged, isRoot, inCI } from '../helpers/env.js';
import { TEST_OBJ } from '../helpers/paths.js';
import { cli, cliJson } from '../helpers/cli.js';
import { PeerLab, PEER_IP, VIP } from '../helpers/peer-lab.js';
import { quicLbCid, shortHeader } from '../helpers/frames.js';


interface Status {
  attached: { interface: string; ifindex: number; mode: string; progId: number; linkId: number }[];
  localId: string | null;
  vips: { address: string; cid: string[] }[];
  servers: { id: string; mac: string; state: string; dev: string | null; slot: number }[];
  warnings: string[];
}

/** The peer lab with eth2 as a second interface. */
class Lab extends PeerLab {
  constructor() {
    super('qs-cli');
    this.ns.veth('eth2', 'eth2p');
  }

  status(): Status {
    return cliJson<Status>(this.q('status', '--json'));
  }

  pins(): string[] {
    return readdirSync(this.fs.dir).filter((f) => !f.endsWith('.debug')).sort();
  }

  ifindex(dev: string): number {
    return this.ns.enter(() => native().ifNameToIndex(dev));
  }
}

let lab: Lab | undefined;
test.before(() => {
  if (isRoot || inCI) lab = new Lab();
});
test.after.always(() => lab?.destroy());

const serial = (title: string, impl: Parameters<typeof privileged>[1]) => privileged(title, impl, test.serial);

serial('attach: attaches and pins, is idempotent, swaps a new build in place, refuses a mode change', (t) => {
  const l = lab!;
  const first = cliJson<{ program: string; progId: number; localId: string }>(l.q('attach', 'veth0', '--id', '0a0b', '--json'));
  t.like(first, { program: 'attached', localId: 'set' });
  t.is(l.ns.xdpProgId('veth0'), first.progId);
  t.true(l.pins().includes(`link-${l.ifindex('veth0')}`));

  const again = cliJson<{ program: string; progId: number; localId: string }>(l.q('attach', 'veth0', '--id', '0a0b', '--json'));
  t.like(again, { program: 'unchanged', progId: first.progId, localId: 'unchanged' });

  // an older build on the link: attach swaps the program in place (same link, no detach in between)
  const linkId = l.status().attached[0]!.linkId;
  const old: Collection = ObjectSpec.open(TEST_OBJ).load();
  try {
    const link = Link.openPinned(path.join(l.fs.dir, `link-${l.ifindex('veth0')}`));
    link.update(old.program('test_pass'));
    link.close();
    t.not(l.ns.xdpProgId('veth0'), first.progId);
    const up = cliJson<{ program: string; progId: number }>(l.q('attach', 'veth0', '--id', '0a0b', '--json'));
    t.is(up.program, 'updated');
    const s = l.status();
    t.is(s.attached[0]!.linkId, linkId, 'same link: updated in place');
    t.is(s.attached[0]!.progId, l.ns.xdpProgId('veth0')!);
  } finally {
    old.close();
  }

  const mode = l.q('attach', 'veth0', '--id', '0a0b', '--mode', 'generic');
  t.is(mode.code, 1);
  t.is(mode.stderr, 'quicsteer: veth0 is attached in native mode; detach it first to change the mode\n');

  // a second interface, generic mode, shares the same state
  t.like(cliJson(l.q('attach', 'eth2', '--id', '0a0b', '--mode', 'generic', '--json')), { program: 'attached', mode: 'generic' });
  const byIfindex = (xs: [string, string][]) => xs.sort((a, b) => l.ifindex(a[0]) - l.ifindex(b[0]));
  t.deepEqual(l.status().attached.map((a) => [a.interface, a.mode]), byIfindex([['veth0', 'native'], ['eth2', 'generic']]));
});

serial('vips: add (IPv4, IPv6, several QUIC-LB configs), idempotent, change, list, remove', (t) => {
  const l = lab!;
  t.is(l.q('vips', 'add', `${VIP}:443`, '--cid', 'quic-lb:sid=2,nonce=6').stdout, `vip ${VIP}:443: added\n`);
  t.is(l.q('vips', 'add', `${VIP}:443`, '--cid', 'quic-lb:sid=2,nonce=6').stdout, `vip ${VIP}:443: unchanged\n`);
  t.is(l.q('vips', 'add', '[2001:db8::10]:443', '--cid', 'quic-lb:sid=2', '--cid', 'quic-lb:sid=2,cr=1').stdout, 'vip [2001:db8::10]:443: added\n');
  t.is(l.q('vips', 'add', `${VIP}:4433`, '--cid', 'msquic').stdout, `vip ${VIP}:4433: added\n`);
  t.is(l.q('vips', 'add', `${VIP}:4433`, '--cid', 'fixed:offset=1,len=2').stdout, `vip ${VIP}:4433: updated\n`);
  t.deepEqual(cliJson(l.q('vips', 'list', '--json')), [
    { address: `${VIP}:443`, cid: ['quic-lb:sid=2,nonce=6'] },
    { address: `${VIP}:4433`, cid: ['fixed:offset=1,len=2'] },
    { address: '[2001:db8::10]:443', cid: ['quic-lb:sid=2,nonce=4', 'quic-lb:sid=2,nonce=4,cr=1'] },
  ]);
  t.regex(l.q('vips', 'list').stdout, /^VIP\s+CID\n192\.0\.2\.10:443\s+quic-lb:sid=2,nonce=6\n/);
  t.is(l.q('vips', 'remove', `${VIP}:4433`).stdout, `vip ${VIP}:4433: removed\n`);
  const gone = l.q('vips', 'remove', `${VIP}:4433`);
  t.is(gone.code, 1);
  t.is(gone.stderr, `quicsteer: no VIP ${VIP}:4433\n`);
  t.is(l.status().vips.length, 2);
});

serial('servers: --mac, --ip through the neighbour table, --dev, states, list, remove; IDs checked against the layouts', (t) => {
  const l = lab!;
  t.regex(l.q('servers', 'add', '0a0b', '--mac', l.selfMac).stdout, /server 0a0b .*: added/);
  // the peer's MAC is not in the neighbour table yet: quicsteer probes it
  t.is(l.ns.ip('neigh', 'show', PEER_IP).trim(), '');
  const byIp = cliJson<{ mac: string; result: string }>(l.q('servers', 'add', '0c0d', '--ip', PEER_IP, '--json'));
  t.deepEqual(byIp, { id: '0c0d', mac: l.peerMac, result: 'added' } as unknown as typeof byIp);
  t.like(cliJson(l.q('servers', 'add', '0e0f', '--mac', '02:00:00:00:00:0e', '--dev', 'eth2', '--json')), { result: 'added' });
  t.like(cliJson(l.q('servers', 'add', '0e0f', '--mac', '02:00:00:00:00:0e', '--dev', 'eth2', '--json')), { result: 'unchanged' });
  t.is(l.q('servers', 'set', '0e0f', '--state', 'drain').stdout, 'server 0e0f: drain (updated)\n');
  t.is(l.q('servers', 'set', '0e0f', '--state', 'drain').stdout, 'server 0e0f: drain (unchanged)\n');
  t.like(cliJson(l.q('servers', 'add', '1011', '--mac', '02:00:00:00:00:10', '--json')), { result: 'added' });
  t.deepEqual(
    cliJson<Status['servers']>(l.q('servers', 'list', '--json')).map((s) => [s.id, s.mac, s.state, s.dev]),
    [['0a0b', l.selfMac, 'up', null], ['0c0d', l.peerMac, 'up', null], ['0e0f', '02:00:00:00:00:0e', 'drain', 'eth2'], ['1011', '02:00:00:00:00:10', 'up', null]],
  );
  t.is(l.q('servers', 'remove', '1011').stdout, 'server 1011: removed\n');

  const tooLong = l.q('servers', 'add', '0a0b0c', '--mac', '02:00:00:00:00:0c');
  t.is(tooLong.code, 2);
  t.is(tooLong.stderr, "quicsteer: server ID 0a0b0c is 3 bytes, but the VIPs' CID layouts carry 2-byte server IDs\n");
  const missing = l.q('servers', 'set', '7777', '--state', 'up');
  t.is(missing.code, 1);
  t.is(missing.stderr, 'quicsteer: no server 7777\n');
  t.deepEqual(l.status().warnings, []);
});

serial('stats: real traffic through the interface, summed over CPUs; --watch prints rates', (t) => {
  const l = lab!;
  const before = cliJson<{ reasons: Record<string, { packets: number }> }>(l.q('stats', '--json'));
  l.sendFromPeer(shortHeader(quicLbCid(0, Buffer.from('7777', 'hex'), 6)), 5); // nobody owns 7777
  l.sendFromPeer(shortHeader(quicLbCid(0, Buffer.from('0a0b', 'hex'), 6)), 3); // ours
  const after = cliJson<{ reasons: Record<string, { packets: number }>; servers: Record<string, { packets: number }> }>(l.q('stats', '--json'));
  t.is(after.reasons.unknown_server!.packets - before.reasons.unknown_server!.packets, 5);
  t.is(after.reasons.local!.packets - before.reasons.local!.packets, 3);
  t.deepEqual(Object.keys(after.servers), ['0a0b', '0c0d', '0e0f']);
  t.regex(l.q('stats').stdout, /^REASON\s+PACKETS\s+BYTES\nnot_vip\s/);

  const watch = l.q('stats', '--watch', '0.2', '--count', '2', '--json');
  t.is(watch.code, 0, watch.stderr);
  const lines = watch.stdout.trim().split('\n').map((x) => JSON.parse(x) as { interval?: number });
  t.is(lines.length, 2);
  t.is(lines[1]!.interval, 0.2);
  t.regex(l.q('stats', '--watch', '0.1', '--count', '2').stdout, /PKT\/S\s+BYTES\/S/);
});

serial('bad input and refusals leave the state exactly as it was', (t) => {
  const l = lab!;
  const before = l.status();
  const cases: [string[], number, RegExp][] = [
    [['attach', 'nosuch0', '--id', '0a0b'], 2, /^quicsteer: no interface 'nosuch0' in this network namespace$/],
    [['attach', 'lo', '--id', '0a0b'], 1, /^quicsteer: lo refused native XDP \(EOPNOTSUPP\): its driver may not support it; try --mode generic$/],
    [['attach', 'veth0', '--id', '0a0b0c'], 2, /server ID 0a0b0c is 3 bytes/],
    [['servers', 'add', '0c0d', '--mac', '02:00'], 2, /bad --mac/],
    [['servers', 'add', '0c0d', '--ip', '192.0.2.77', '--mac', '02:00:00:00:00:01'], 2, /exactly one of --mac and --ip/],
    [['servers', 'add', '0c0d', '--ip', '192.0.2.77'], 1, /^quicsteer: cannot resolve the MAC of 192\.0\.2\.77: no neighbour entry and no answer to a probe; give --mac instead$/],
    [['servers', 'add', '0c0d', '--mac', '02:00:00:00:00:01', '--dev', 'nosuch0'], 2, /no interface 'nosuch0'/],
    [['vips', 'add', '192.0.2.300:443', '--cid', 'msquic'], 2, /bad VIP address/],
    [['vips', 'add', `${VIP}:443`, '--cid', 'quic-lb:sid=20'], 2, /sid must be 1\.\.15/],
    [['vips', 'add', `${VIP}:443`, '--cid', 'quic-lb:sid=2', '--cid', 'quic-lb:sid=3'], 2, /two quic-lb configs with cr=0/],
    [['detach', 'nosuch0'], 2, /no interface 'nosuch0'/],
  ];
  for (const [args, code, message] of cases) {
    const r = l.q(...args);
    t.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr.split('\n')[0]!, message, args.join(' '));
    t.deepEqual(l.status(), before, `state unchanged after: ${args.join(' ')}`);
  }
  // a pin path that is not a bpffs: refused, with where and why
  const plain = tempDir('qs-plain');
  for (const f of ['qs_vips', 'qs_servers', 'qs_peers', 'qs_tx_ports', 'qs_config', 'qs_stats', 'qs_server_stats']) writeFileSync(path.join(plain, f), '');
  const notBpf = cli(['--pin-path', plain, 'status'], { ns: l.ns.name });
  t.is(notBpf.code, 1);
  t.is(notBpf.stderr, `quicsteer: ${plain} is not on a bpffs: no pinned state can be there (mount -t bpf bpf <dir>, or another --pin-path)\n`);
  const noDir = cli(['--pin-path', '/dev/null/qs', 'vips', 'add', `${VIP}:443`, '--cid', 'msquic'], { ns: l.ns.name });
  t.is(noDir.code, 1);
  t.is(noDir.stderr, 'quicsteer: cannot create the pin directory /dev/null/qs: ENOTDIR\n');
});

serial('apply: dry run changes nothing, apply reaches the file, a second apply is a no-op, a failing apply keeps the old state', (t) => {
  const l = lab!;
  const dir = tempDir('qs-apply');
  const write = (name: string, v: unknown) => {
    const f = path.join(dir, name);
    writeFileSync(f, JSON.stringify(v));
    return f;
  };
  const config = {
    localId: '0a0b',
    interfaces: [{ name: 'veth0', mode: 'native' }],
    vips: [{ address: `${VIP}:443`, cid: 'quic-lb:sid=2,nonce=6' }, { address: `${VIP}:8443`, cid: ['quic-lb:sid=2', 'quic-lb:sid=2,cr=1'] }],
    servers: [
      { id: '0a0b', mac: l.selfMac },
      { id: '0c0d', ip: PEER_IP, state: 'down' },
    ],
  };
  const f = write('good.json', config);
  const before = l.status();
  const dry = cliJson<{ dryRun: boolean; applied: boolean; changes: string[] }>(l.q('apply', '-f', f, '--dry-run', '--json'));
  t.like(dry, { dryRun: true, applied: false });
  t.deepEqual(dry.changes, [
    `+ vip ${VIP}:8443 quic-lb:sid=2,nonce=4 quic-lb:sid=2,nonce=4,cr=1`,
    '- vip [2001:db8::10]:443',
    `~ server 0c0d ${l.peerMac} up -> ${l.peerMac} down`,
    '- server 0e0f',
    '- detach eth2',
  ]);
  t.deepEqual(l.status(), before, 'dry run changed nothing');

  t.regex(l.q('apply', '-f', f).stdout, /applied\n$/);
  const after = l.status();
  t.deepEqual(after.vips.map((v) => v.address), [`${VIP}:443`, `${VIP}:8443`]);
  t.deepEqual(after.servers.map((s) => [s.id, s.state]), [['0a0b', 'up'], ['0c0d', 'down']]);
  t.deepEqual(after.attached.map((a) => a.interface), ['veth0']);
  t.is(l.ns.xdpProgId('eth2'), undefined);
  t.is(l.q('apply', '-f', f).stdout, 'no changes\n');

  // fails at attaching lo natively, after its tables were written: everything goes back
  const failing = write('failing.json', { ...config, interfaces: [...config.interfaces, { name: 'lo', mode: 'native' }], vips: [config.vips[0]] });
  const r = l.q('apply', '-f', failing);
  t.is(r.code, 1);
  t.regex(r.stderr, /lo refused native XDP/);
  t.deepEqual(l.status(), after, 'all or nothing');

  const badFile = write('bad.json', { ...config, servers: [{ id: '0c0d' }] });
  const bad = l.q('apply', '-f', badFile);
  t.is(bad.code, 2);
  t.is(bad.stderr, `quicsteer: ${badFile}: servers[0]: give exactly one of mac and ip\n`);
  const notJson = write('x.json', 'x');
  writeFileSync(notJson, '{ nope');
  t.is(l.q('apply', '-f', notJson).code, 2);
  t.is(l.q('apply', '-f', path.join(dir, 'missing.json')).code, 1);
});

serial('detach: the program goes, and with the last interface every pinned object', (t) => {
  const l = lab!;
  t.regex(l.q('detach', 'veth0').stdout, /^veth0: detached; no interface left, pinned state removed\n$/);
  t.is(l.ns.xdpProgId('veth0'), undefined);
  t.deepEqual(l.pins(), []);
  // nothing was there: it says so, and claims no removal (issue 11, finding 11)
  t.is(l.q('detach', 'veth0').stdout, `veth0: not attached under ${l.fs.dir}\n`);
  const s = l.status();
  t.deepEqual([s.attached, s.vips, s.servers, s.localId], [[], [], [], null]);
});

serial('the default pin path under `ip netns exec` is refused with the fix; --pin-path outside /sys persists', (t) => {
  const l = lab!;
  // ip netns exec remounts /sys: a bpffs mounted on its /sys/fs/bpf would live only as long as the command
  const r = cli(['attach', 'veth0', '--id', '0a0b'], { ns: l.ns.name });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /^quicsteer: \/sys\/fs\/bpf\/quicsteer: this mount namespace has its own \/sys\/fs\/bpf .* --pin-path \/run\/qs-<name>\n$/);
  t.is(l.ns.xdpProgId('veth0'), undefined, 'nothing attached');
  // with the pin path on a bpffs outside /sys (here the test's own), the attachment stays
  const env = { QUICSTEER_PIN_PATH: l.fs.dir };
  t.is(cli(['attach', 'veth0', '--id', '0a0b'], { ns: l.ns.name, env }).code, 0);
  t.truthy(l.ns.xdpProgId('veth0'));
  t.is(cliJson<Status>(cli(['status', '--json'], { ns: l.ns.name, env })).attached.length, 1);
  t.is(cli(['detach', 'veth0'], { ns: l.ns.name, env }).code, 0);
});
