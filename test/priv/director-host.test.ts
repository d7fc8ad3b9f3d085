// The director and real-server pieces that need no IPVS: the QUIC liveness probe (and quicsteer probe)
// against a real QUIC server, realserver setup/teardown, and the director's clear refusal on a kernel without IPVS.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { privileged, privilegedSerial } from '../helpers/env.js';
import { Netns } from '../helpers/netns.js';
import { QuicServer } from '../helpers/quic-server.js';
import { cli } from '../helpers/cli.js';

privilegedSerial('the probe: a real QUIC server answers with Version Negotiation; killed, it does not', async (t) => {
  const ns = new Netns('qs-probe');
  const srv = new QuicServer(ns.name, '127.0.0.1', 4433);
  try {
    const probe = (port: number) =>
      JSON.parse(execFileSync('ip', ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e',
        `import { probe } from '${new URL('../../src/director/health.js', import.meta.url).href}'; console.log(JSON.stringify(await probe('127.0.0.1', ${port}, 2000)))`], { encoding: 'utf8' })) as boolean;
    t.false(probe(4433), 'nothing listening yet');
    srv.start();
    let alive = false;
    for (let i = 0; i < 20 && !alive; i++) alive = probe(4433);
    t.true(alive, 'gtlsserver answered the reserved version with VN');
    srv.stop();
    await new Promise((r) => setTimeout(r, 200));
    t.false(probe(4433), 'killed: no answer');
  } finally {
    srv.destroy();
    ns.destroy();
  }
});

privilegedSerial('quicsteer probe, unprivileged, against a real QUIC server: alive with its versions (exit 0); killed, ICMP port unreachable (exit 1)', async (t) => {
  const ns = new Netns('qs-probe-cli');
  const srv = new QuicServer(ns.name, '127.0.0.1', 4433);
  try {
    const probe = () => cli(['probe', '127.0.0.1:4433'], { ns: ns.name, asUser: 65534 });
    srv.start();
    let r = probe();
    for (let i = 0; i < 20 && r.code !== 0; i++) r = probe();
    t.is(r.code, 0, r.stdout + r.stderr);
    t.is(r.stderr, '');
    // gtlsserver lists a greased version (RFC 9000 6.3) and QUIC v1
    t.regex(r.stdout, /^alive: 127\.0\.0\.1:4433 answered Version Negotiation in \d+(\.\d)? ms \(versions 0x[0-9a-f]{8} 0x00000001\)\n$/);
    srv.stop();
    await new Promise((res) => setTimeout(res, 200));
    const d = probe();
    t.is(d.code, 1);
    t.is(d.stdout, 'dead: 127.0.0.1:4433: ICMP port unreachable\n');
  } finally {
    srv.destroy();
    ns.destroy();
  }
});

privileged('realserver setup puts the VIPs on lo and quiets ARP; idempotent; teardown restores exactly', (t) => {
  const ns = new Netns('qs-rs');
  try {
    const state = `/run/quicsteer-test-${ns.name}.json`;
    const sysctl = (k: string) => execFileSync('ip', ['netns', 'exec', ns.name, 'cat', `/proc/sys/net/ipv4/conf/${k}`], { encoding: 'utf8' }).trim();
    const lo = () => (JSON.parse(ns.ip('-j', 'addr', 'show', 'dev', 'lo')) as { addr_info: { local: string; prefixlen: number }[] }[])[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
    // one VIP already there (setup must neither add it nor remove it later)
    ns.ip('addr', 'add', '198.51.100.11/32', 'dev', 'lo');
    const before = { lo: lo(), ignore: sysctl('all/arp_ignore'), announce: sysctl('all/arp_announce') };
    const q = (...a: string[]) => cli(['realserver', ...a, '--state', state], { ns: ns.name });
    const r = q('setup', '--vip', '198.51.100.10', '198.51.100.11', '2001:db8::10', '--json');
    t.is(r.code, 0, r.stderr);
    t.like(JSON.parse(r.stdout), { added: ['198.51.100.10', '2001:db8::10'], present: ['198.51.100.11'] });
    t.true(lo().includes('198.51.100.10/32') && lo().includes('2001:db8::10/128'));
    t.deepEqual([sysctl('all/arp_ignore'), sysctl('all/arp_announce'), sysctl('lo/arp_ignore'), sysctl('lo/arp_announce')], ['1', '2', '1', '2']);
    t.deepEqual(JSON.parse(q('setup', '--vip', '198.51.100.10', '--json').stdout), { added: [], present: ['198.51.100.10'], sysctls: [] });
    t.is(q('teardown').code, 0);
    t.deepEqual({ lo: lo(), ignore: sysctl('all/arp_ignore'), announce: sysctl('all/arp_announce') }, before);
    t.is(q('teardown').stdout, 'nothing to undo\n');
    const bad = q('setup', '--vip', '198.51.100.300');
    t.is(bad.code, 2);
    t.is(bad.stderr, "quicsteer: bad --vip '198.51.100.300': not an IPv4 or IPv6 address\n");
  } finally {
    ns.destroy();
  }
});

privileged('director status: without IPVS in the kernel one clear line and exit 1, with it the (empty) managed table', (t) => {
  const r = cli(['director', 'status', '--state', '/run/quicsteer-test-director.json']);
  if (!existsSync('/proc/net/ip_vs')) {
    // this project's CI host: no IPVS
    t.is(r.code, 1);
    t.is(r.stderr, "quicsteer: IPVS is not available in this kernel (ipvsadm: Can't initialize ipvs: Protocol not available): the director needs CONFIG_IP_VS or the ip_vs module\n");
  } else {
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, '(no managed services)\n');
  }
});
