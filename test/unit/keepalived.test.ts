// quicsteer director keepalived: its output for one director file (every scheduler and flag, IPv6, zero
// and non-zero weights, server IDs) under five option sets, against golden files, each passing
// keepalived's own --config-test; what keepalived refuses (shown by editing a good file) refused by us
// first; and the options that make no sense, refused with one line.
//
// What keepalived --config-test checks: the syntax, every keyword and value (scheduler, flags, weights,
// the quorum against the total weight, VRRP ids, priorities, advert intervals, address families, that
// the VRRP interface exists and is not lo). What it does not: whether the misc_path and notify programs
// exist and are secure. With enable_script_security it disables a missing or insecure program without
// a word (its log is muted in config-test mode), so the program paths here are the README's, need not
// exist, and test/priv/keepalived.test.ts checks real ones with keepalived's startup.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, SHIM, type CliResult } from '../helpers/cli.js';
import { ROOT } from '../helpers/env.js';
import { tempDir } from '../helpers/tmp.js';
import { DirectorFile, zeroWeightWarnings } from '../../src/director/config.js';

const FIXTURES = path.join(ROOT, 'test/fixtures/keepalived');
const DIRECTOR = path.join(FIXTURES, 'director.json');
// QS_UPDATE_GOLDEN=1 writes the golden files from the current output (then review the diff).
const UPDATE = process.env.QS_UPDATE_GOLDEN === '1';

// The option sets: one golden file each (test/fixtures/keepalived/<name>.conf).
const VARIANTS: Record<string, string[]> = {
  plain: [],
  notify: ['--router-id', 'lb1', '--quicsteer', '/opt/quicsteer/bin/quicsteer', '--notify', '/usr/local/bin/qs-peer-state'],
  // multicast adverts; IPv4 carried, the IPv6 VIP excluded
  vrrp: ['--vrrp', 'eth0', '--vrrp-id', '51'],
  'vrrp-unicast': ['--notify', '/usr/local/bin/qs-peer-state', '--vrrp', 'eth0', '--vrrp-id', '52', '--priority', '150', '--state', 'master', '--advert-int', '2', '--unicast-peer', '192.0.2.252', '--unicast-peer', '192.0.2.253', '--vrrp-notify', '/usr/local/bin/qs-vrrp'],
  // IPv6 peers: the IPv6 VIP carried, the IPv4 ones excluded
  'vrrp-ipv6': ['--vrrp', 'eth0', '--vrrp-id', '53', '--priority', '50', '--advert-int', '3', '--nopreempt', '--unicast-peer', '2001:DB8::fe'],
};

/** The CLI's output, with the checkout's path taken out of the header (the golden files are the same in every checkout). */
function generate(args: string[], file = DIRECTOR): CliResult {
  const r = cli(['director', 'keepalived', '-f', file, ...args]);
  return { ...r, stdout: r.stdout.replaceAll(`${ROOT}/`, '') };
}

/**
 * keepalived --config-test on `text`, in a network namespace of its own (unshare -rn: no privileges
 * needed) holding an `eth0` (a veth) for the VRRP instance: keepalived refuses a missing interface and lo.
 */
function configTest(text: string): { code: number; output: string } {
  const f = path.join(tempDir('qs-keepalived'), 'keepalived.conf');
  writeFileSync(f, text);
  const r = spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link add eth0 type veth peer name eth1 && exec keepalived --config-test -f "$0"', f], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, output: r.stdout + r.stderr };
}

const golden = (name: string) => readFileSync(path.join(FIXTURES, `${name}.conf`), 'utf8');

for (const [name, args] of Object.entries(VARIANTS)) {
  test(`${name}: matches test/fixtures/keepalived/${name}.conf, and keepalived --config-test passes it without a word`, (t) => {
    const r = generate(args);
    // the one warning per sh or mh listener without its fallback flag (a failed check's weight 0 drops flows)
    t.is(r.stderr, zeroWeightWarnings(DirectorFile.parse(JSON.parse(readFileSync(DIRECTOR, 'utf8'))), { health: true }).map((w) => `quicsteer: warning: ${w}\n`).join(''));
    t.is(r.stderr.split('\n').length - 1, 5, 'sh x2 and mh x3 listeners lack their fallback flag');
    t.is(r.code, 0);
    if (UPDATE) writeFileSync(path.join(FIXTURES, `${name}.conf`), r.stdout);
    t.is(r.stdout, golden(name));
    t.deepEqual(configTest(r.stdout), { code: 0, output: '' });
  });
}

test('the golden files cover every scheduler and flag, IPv6, weight 0 beside others, server IDs, and the three VRRP layouts', (t) => {
  const plain = golden('plain');
  for (const s of ['wrr', 'wlc', 'sh', 'mh']) t.regex(plain, new RegExp(`lvs_sched ${s}\\n`));
  const flags = [...plain.matchAll(/lvs_sched (sh|mh)\n((?: {4}[a-z]+-[a-z]+\n)*)/g)].map((m) => `${m[1]}:${m[2]!.trim().split(/\s+/).filter(Boolean).join(',')}`);
  t.deepEqual(new Set(flags), new Set(['sh:', 'sh:sh-port', 'sh:sh-fallback', 'sh:sh-fallback,sh-port', 'mh:', 'mh:mh-port', 'mh:mh-fallback', 'mh:mh-fallback,mh-port']));
  t.regex(plain, /virtual_server 2001:db8::10 443 \{/);
  t.regex(plain, /weight 0\n/);
  t.regex(golden('notify'), /notify_down "\/usr\/local\/bin\/qs-peer-state down \[2001:db8::10\]:443 \[2001:db8::3\]:443 0e0f"/);
  t.regex(golden('notify'), /notify_up "\/usr\/local\/bin\/qs-peer-state up 198\.51\.100\.10:443 192\.0\.2\.3:443"\n/);
  t.regex(golden('vrrp'), /virtual_ipaddress \{\n {8}198\.51\.100\.10\/32 dev eth0\n/);
  t.regex(golden('vrrp'), /virtual_ipaddress_excluded \{\n {8}2001:db8::10\/128 dev eth0\n {4}\}/);
  t.regex(golden('vrrp-ipv6'), /virtual_ipaddress \{\n {8}2001:db8::10\/128 dev eth0\n {4}\}/);
  // one VIP with two ports is one address
  t.is(golden('vrrp').match(/198\.51\.100\.10\/32/g)?.length, 1);
});

test('the health fields become delay_loop, retry, delay_before_retry and misc_timeout', (t) => {
  const plain = golden('plain');
  // listeners[1]: timeout 5, interval 10, unhealthyThreshold 2
  t.regex(plain, /virtual_server 198\.51\.100\.10 4433 \{[^]*?delay_loop 10\n {4}retry 1\n {4}delay_before_retry 10\n[^]*?misc_path "\/usr\/local\/bin\/quicsteer probe 192\.0\.2\.1:4433 --timeout 5"\n {12}misc_timeout 10\n/);
  // listeners[10]: the other ends of the ranges
  t.regex(plain, /virtual_server 2001:db8::10 443 \{[^]*?delay_loop 300\n {4}retry 9\n {4}delay_before_retry 300\n[^]*?probe \[2001:db8::1\]:443 --timeout 60"\n {12}misc_timeout 65\n/);
});

/** What keepalived refuses or warns about, shown on an edited golden file, and our refusal of the input that would produce it. */
const REFUSED: { what: string; edit: [string, (s: string) => string]; keepalived: RegExp; args: string[]; file?: object; error: string }[] = [
  {
    what: 'an unknown scheduler (the control: the check can fail)',
    edit: ['plain', (s) => s.replace('lvs_sched wrr', 'lvs_sched bogus')],
    keepalived: /Invalid lvs_scheduler 'bogus'/,
    args: [],
    file: { listeners: [{ vip: '198.51.100.10:443', scheduler: 'bogus', realServers: [{ address: '192.0.2.1', port: 443 }] }] },
    error: 'FILE: listeners[0].scheduler: Invalid enum value. Expected \'wrr\' | \'wlc\' | \'sh\' | \'mh\', received \'bogus\'',
  },
  {
    what: 'a listener whose real servers all have weight 0',
    edit: ['plain', (s) => s.replace(/weight \d+/g, 'weight 0')],
    keepalived: /quorum 1 for \[198\.51\.100\.10\]:udp:443 exceeds total weight of real servers 0/,
    args: [],
    file: { listeners: [{ vip: '198.51.100.10:443', realServers: [{ address: '192.0.2.1', port: 443, weight: 0 }, { address: '192.0.2.2', port: 443, weight: 0 }] }] },
    error: 'director keepalived: listeners[0] (198.51.100.10:443): every real server has weight 0, and keepalived needs a total weight of at least 1 (its quorum)',
  },
  {
    what: 'nopreempt on an instance that starts as MASTER',
    edit: ['vrrp', (s) => s.replace('state BACKUP', 'state MASTER\n    nopreempt')],
    keepalived: /nopreempt will not work with initial state MASTER/,
    args: ['--vrrp', 'eth0', '--vrrp-id', '51', '--state', 'master', '--nopreempt'],
    error: 'director keepalived: --nopreempt needs --state backup (keepalived clears nopreempt on an instance that starts as MASTER)',
  },
  {
    what: 'unicast peers of both families',
    edit: ['vrrp-unicast', (s) => s.replace('192.0.2.253\n', '192.0.2.253\n        2001:db8::fe\n')],
    keepalived: /unicast peer address\[2001:db8::fe\] MUST be of the same family/,
    args: ['--vrrp', 'eth0', '--vrrp-id', '51', '--unicast-peer', '192.0.2.252', '--unicast-peer', '2001:db8::fe'],
    error: 'director keepalived: --unicast-peer addresses of both families: a VRRP instance speaks one (give the peers of one family)',
  },
  {
    what: 'both families in virtual_ipaddress (so the other family goes to virtual_ipaddress_excluded)',
    edit: ['vrrp', (s) => s.replace(/\n {4}# a VRRP instance advertises one address family[^\n]*\n {4}virtual_ipaddress_excluded \{\n/, '\n    virtual_ipaddress {\n')],
    keepalived: /address family must match VRRP instance \[2001:db8::10\/128\]/,
    args: ['--vrrp', 'eth0', '--vrrp-id', '51', '--unicast-peer', '2001:db8::fe'],
    file: { listeners: [{ vip: '198.51.100.10:443', realServers: [{ address: '192.0.2.1', port: 443 }] }] },
    error: "director keepalived: the --unicast-peer addresses are IPv6 but no listener has an IPv6 VIP: VRRP adverts carry VIPs of the peers' family",
  },
  {
    what: 'an IPv6 (VRRPv3) advert interval above 40.95 s',
    edit: ['vrrp-ipv6', (s) => s.replace('advert_int 3', 'advert_int 41')],
    keepalived: /VRRPv3 advertisement interval 41\.00s is out of range/,
    args: ['--vrrp', 'eth0', '--vrrp-id', '53', '--advert-int', '41', '--unicast-peer', '2001:db8::fe'],
    error: 'director keepalived: --advert-int 41: an IPv6 VRRP instance (VRRPv3) takes at most 40 s',
  },
  {
    what: 'an IPv4 (VRRPv2) advert interval that is not whole seconds',
    edit: ['vrrp', (s) => s.replace('advert_int 1', 'advert_int 0.5')],
    keepalived: /VRRPv2 advertisement interval 0\.500000s must be an integer/,
    args: ['--vrrp', 'eth0', '--vrrp-id', '51', '--advert-int', '0.5'],
    error: "bad --advert-int '0.5': whole seconds, 1 to 255",
  },
  {
    what: 'a virtual_router_id above 255',
    edit: ['vrrp', (s) => s.replace('virtual_router_id 51', 'virtual_router_id 256')],
    keepalived: /VRID '256' not valid - must be between 1 & 255/,
    args: ['--vrrp', 'eth0', '--vrrp-id', '256'],
    error: "bad --vrrp-id '256': a whole number, 1 to 255",
  },
];

for (const c of REFUSED) {
  test(`refused as keepalived would: ${c.what}`, (t) => {
    const [base, edit] = c.edit;
    const edited = edit(golden(base));
    t.not(edited, golden(base), 'the edit changed nothing');
    const k = configTest(edited);
    t.not(k.code, 0, k.output);
    t.regex(k.output, c.keepalived);
    let file = DIRECTOR;
    if (c.file) {
      file = path.join(tempDir('qs-keepalived'), 'director.json');
      writeFileSync(file, JSON.stringify(c.file));
    }
    const r = cli(['director', 'keepalived', '-f', file, ...c.args]);
    t.is(r.stdout, '');
    t.is(r.stderr, `quicsteer: ${c.error.replace('FILE', file)}\n`);
    t.is(r.code, 2);
  });
}

test('options that make no sense: one line, exit 2, nothing printed', (t) => {
  const chars = 'letters, digits and . _ + , : = @ % / -';
  const cases: [string[], string][] = [
    [['--quicsteer', 'bin/quicsteer'], "bad --quicsteer 'bin/quicsteer': give an absolute path (keepalived runs programs from /)"],
    [['--quicsteer', '/opt/my tools/quicsteer'], `bad --quicsteer '/opt/my tools/quicsteer': keepalived's configuration cannot carry " " in a program path (use ${chars})`],
    [['--quicsteer', '/opt/"q"'], `bad --quicsteer '/opt/"q"': keepalived's configuration cannot carry "\\"" in a program path (use ${chars})`],
    [['--quicsteer', '/opt/q\nrm -rf /'], `bad --quicsteer "/opt/q\\nrm -rf /": keepalived's configuration cannot carry "\\n" in a program path (use ${chars})`],
    [['--notify', '/opt/$HOME/n'], `bad --notify '/opt/$HOME/n': keepalived's configuration cannot carry "$" in a program path (use ${chars})`],
    [['--notify', 'qs-peer-state'], "bad --notify 'qs-peer-state': give an absolute path (keepalived runs programs from /)"],
    [['--vrrp', 'eth0', '--vrrp-id', '1', '--vrrp-notify', '/opt/q#1'], `bad --vrrp-notify '/opt/q#1': keepalived's configuration cannot carry "#" in a program path (use ${chars})`],
    [['--router-id', 'lb 1'], `bad --router-id 'lb 1': one word of ${chars}`],
    [['--vrrp', 'eth{0}', '--vrrp-id', '1'], `bad --vrrp 'eth{0}': one word of ${chars}`],
    [['--vrrp', 'a/b', '--vrrp-id', '1'], "bad --vrrp 'a/b': not an interface name"],
    [['--vrrp-id', '51'], 'director keepalived: --vrrp-id configure the VRRP instance: give --vrrp <interface> too'],
    [['--priority', '150', '--nopreempt', '--unicast-peer', '192.0.2.1'], 'director keepalived: --priority, --nopreempt, --unicast-peer configure the VRRP instance: give --vrrp <interface> too'],
    [['--state', 'master', '--advert-int', '2', '--vrrp-notify', '/bin/true'], 'director keepalived: --state, --advert-int, --vrrp-notify configure the VRRP instance: give --vrrp <interface> too'],
    [['--vrrp', 'eth0'], 'director keepalived: --vrrp needs --vrrp-id <1-255> (the virtual_router_id both directors share)'],
    [['--vrrp', 'eth0', '--vrrp-id', '0'], "bad --vrrp-id '0': a whole number, 1 to 255"],
    [['--vrrp', 'eth0', '--vrrp-id', '1', '--priority', '255'], "bad --priority '255': a whole number, 1 to 254"],
    [['--vrrp', 'eth0', '--vrrp-id', '1', '--priority', '0'], "bad --priority '0': a whole number, 1 to 254"],
    [['--vrrp', 'eth0', '--vrrp-id', '1', '--advert-int', '256'], "bad --advert-int '256': whole seconds, 1 to 255"],
    [['--vrrp', 'eth0', '--vrrp-id', '1', '--unicast-peer', '192.0.2.300'], "bad --unicast-peer '192.0.2.300': not an IPv4 or IPv6 address"],
    [['--vrrp', 'eth0', '--vrrp-id', '1', '--unicast-peer', '192.0.2.1', '--unicast-peer', '192.0.2.1'], 'director keepalived: an --unicast-peer is given twice'],
  ];
  for (const [args, message] of cases) {
    const r = cli(['director', 'keepalived', '-f', DIRECTOR, ...args]);
    t.is(r.stderr, `quicsteer: ${message}\n`, args.join(' '));
    t.is(r.stdout, '');
    t.is(r.code, 2);
  }
  const state = cli(['director', 'keepalived', '-f', DIRECTOR, '--vrrp', 'eth0', '--vrrp-id', '1', '--state', 'primary']);
  t.is(state.code, 2);
  t.is(state.stderr.split('\n')[0], "quicsteer: option '--state <state>' argument 'primary' is invalid. Allowed choices are master, backup.");
  // --json: the same refusal as one JSON object
  const j = cli(['director', 'keepalived', '-f', DIRECTOR, '--vrrp-id', '51', '--json']);
  t.is(j.code, 2);
  t.deepEqual(JSON.parse(j.stderr), { error: { code: 'usage', message: "unknown option '--json'", exitCode: 2 } });
  const e = cli(['director', 'keepalived', '-f', '/nonexistent/director.json']);
  t.is(e.code, 1);
  t.is(e.stderr, 'quicsteer: cannot read /nonexistent/director.json: ENOENT (no such file or directory)\n');
  const empty = path.join(tempDir('qs-keepalived'), 'empty.json');
  writeFileSync(empty, '{"listeners": []}');
  const n = cli(['director', 'keepalived', '-f', empty, '--vrrp', 'eth0', '--vrrp-id', '1']);
  t.is(n.stderr, 'quicsteer: director keepalived: the file has no listeners, so the VRRP instance would have no VIP (keepalived refuses one without)\n');
  t.is(n.code, 2);
});

test('-o writes the file atomically, mode 0644 whatever the umask, its header naming -o; an unwritable place is exit 1', (t) => {
  const dir = tempDir('qs-keepalived');
  const out = path.join(dir, 'keepalived.conf');
  writeFileSync(out, 'old\n', { mode: 0o600 });
  // under umask 077: the mode is 0644 all the same
  const r = spawnSync('sh', ['-c', 'umask 077 && exec "$@"', 'sh', process.execPath, SHIM, 'director', 'keepalived', '-f', DIRECTOR, '--vrrp', 'eth0', '--vrrp-id', '51', '-o', out], { encoding: 'utf8', cwd: '/' });
  t.is(r.stderr.split('\n').filter((l) => !l.startsWith('quicsteer: warning: ')).join(''), '', 'warnings only (sh and mh listeners without fallback)');
  t.is(r.status, 0);
  t.is(r.stdout, `wrote ${out}: 11 virtual_server(s), VRRP instance 51 on eth0\n`);
  t.is(statSync(out).mode & 0o777, 0o644);
  t.deepEqual(readdirSync(dir), ['keepalived.conf']);
  const text = readFileSync(out, 'utf8').replaceAll(`${ROOT}/`, '');
  t.is(text, golden('vrrp').replace(/^(# {3}quicsteer director keepalived .*)$/m, `$1 -o ${out}`));
  const bad = cli(['director', 'keepalived', '-f', DIRECTOR, '-o', '/nonexistent/keepalived.conf']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /^(quicsteer: warning: .*\n)*quicsteer: cannot write \/nonexistent\/keepalived\.conf: ENOENT \(no such file or directory\)\n$/);
});
