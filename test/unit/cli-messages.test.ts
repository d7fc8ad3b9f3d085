// What the command says when something is wrong: hints that name the full command path, `help` of a
// nested command, errors under --json as one JSON object, a closed stdout ending quietly, --cid that
// leaves the operands alone, and a director that plans without IPVS and refuses meaningless options.
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, SHIM } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { describe } from '../../src/cli/index.js';

const PIN = ['--pin-path', '/dev/null/quicsteer'];

test('usage hints name the full command path', (t) => {
  const cases: [string[], string][] = [
    [['vips', 'add'], 'quicsteer vips add'],
    [['servers', 'set', '0a0b'], 'quicsteer servers set'],
    [['director', 'apply', '--bogus'], 'quicsteer director apply'],
    [['cid', 'encode', '--id', '0a0b'], 'quicsteer cid encode'],
    [['stats', '--bogus'], 'quicsteer stats'],
    [['--bogus'], 'quicsteer'],
  ];
  for (const [args, path] of cases) {
    const r = cli([...PIN, ...args]);
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split('\n')[1], `(${path} --help for usage)`, args.join(' '));
  }
});

test('quicsteer help <command path> shows that command; an unknown one is bad usage', (t) => {
  for (const p of [['vips', 'add'], ['director', 'apply'], ['cid', 'encode'], ['stats']]) {
    const r = cli(['help', ...p]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`^Usage: quicsteer ${p.join(' ')} `), p.join(' '));
  }
  t.regex(cli(['help']).stdout, /^Usage: quicsteer \[options\] \[command\]/);
  const bad = cli(['help', 'vips', 'frob']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^quicsteer: help: unknown command 'vips frob'/);
});

test('cid encode errors say cid encode', (t) => {
  const r = cli(['cid', 'encode', '--cid', 'msquic', '--cid', 'mvfst', '--id', '0a0b']);
  t.is(r.code, 2);
  t.is(r.stderr, 'quicsteer: cid encode: only quic-lb takes several configs\n');
  const d = cli(['cid', 'decode', '0a0b0c0d0e', '--cid', 'msquic', '--cid', 'mvfst']);
  t.is(d.stderr, 'quicsteer: cid decode: only quic-lb takes several configs\n');
});

test('--cid takes one spec each time: the operand after it stays an operand; QUIC-LB params keep their commas', (t) => {
  const enc = cli(['cid', 'encode', '--cid', 'quic-lb:sid=2,nonce=6', '--cid', 'quic-lb:sid=3,cr=1', '--id', '0a0b0c']);
  t.is(enc.code, 0, enc.stderr);
  const cid = enc.stdout.trim();
  const r = cli(['cid', 'decode', '--cid', 'quic-lb:sid=2,nonce=6', '--cid', 'quic-lb:sid=3,cr=1', cid, '--json']);
  t.is(r.code, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { cid, serverId: '0a0b0c' });
  // vips add gets past its input checks (to the capability check or the pin path, never "missing argument")
  const v = cli([...PIN, 'vips', 'add', '--cid', 'msquic', '192.0.2.10:443']);
  t.is(v.code, 1, v.stderr);
  t.notRegex(v.stderr, /missing required argument/);
});

interface JsonError {
  error: { code: string; message: string; exitCode: number; errno?: string };
}
/** The one JSON line of stderr (anything else on it fails the test). */
function jsonError(r: ReturnType<typeof cli>): JsonError {
  if (r.stderr.split('\n').length !== 2 || !r.stderr.endsWith('\n')) throw new Error(`stderr is not one line: ${JSON.stringify(r.stderr)}`);
  return JSON.parse(r.stderr) as JsonError;
}

test('--json: an error is one JSON object on stderr with a stable code, the message and the exit code', (t) => {
  const cases: [string[], JsonError['error']][] = [
    [['vips', 'add', '192.0.2:443', '--cid', 'msquic', '--json'], { code: 'usage', message: "bad VIP address '192.0.2:443': expected <ipv4>:<port> or [<ipv6>]:<port>", exitCode: 2 }],
    [['vips', 'add', '192.0.2.1:443', '--cid', 'msquic', '--json', '--bogus'], { code: 'usage', message: "unknown option '--bogus'", exitCode: 2 }],
    [['stats', '--json', '--watch', '0'], { code: 'usage', message: "bad --watch '0': seconds, 0.1 to 3600", exitCode: 2 }],
    [['apply', '-f', '/nonexistent/qs.json', '--json'], { code: 'file', message: 'cannot read /nonexistent/qs.json: ENOENT (no such file or directory)', exitCode: 1 }],
  ];
  for (const [args, error] of cases) {
    const r = cli([...PIN, ...args]);
    t.is(r.code, error.exitCode, r.stderr);
    t.is(r.stdout, '');
    t.deepEqual(jsonError(r), { error }, args.join(' '));
  }
  const dir = tempDir('qs-msg');
  const f = path.join(dir, 'dup.json');
  writeFileSync(f, '{"localId":"0a0b","localId":"0a0c"}');
  t.like(jsonError(cli([...PIN, 'apply', '-f', f, '--json'])).error, { code: 'bad-file', exitCode: 2 });
  // without --json the same error is the plain line
  t.is(cli([...PIN, 'apply', '-f', '/nonexistent/qs.json']).stderr, 'quicsteer: cannot read /nonexistent/qs.json: ENOENT (no such file or directory)\n');
});

test('an fs error is a file problem ("cannot <syscall> <path>: <code>"), a BPF syscall error is the kernel refusing', (t) => {
  const fsErr = Object.assign(new Error("EACCES: permission denied, open '/var/lib/quicsteer/x'"), { errno: -13, code: 'EACCES', syscall: 'open', path: '/var/lib/quicsteer/x' });
  t.deepEqual(describe(fsErr), { code: 'file', message: 'cannot open /var/lib/quicsteer/x: EACCES (permission denied)', exitCode: 1 });
  const bpfErr = Object.assign(new Error('bpf_obj_get /sys/fs/bpf/x: Operation not permitted (EPERM)\nlog'), { errno: 1, code: 'EPERM', syscall: 'bpf_obj_get /sys/fs/bpf/x' });
  t.deepEqual(describe(bpfErr), { code: 'kernel', message: 'kernel refused: bpf_obj_get /sys/fs/bpf/x: Operation not permitted (EPERM) (CAP_BPF and CAP_NET_ADMIN needed)', exitCode: 1, errno: 'EPERM' });
});

/** Runs quicsteer with its stdout's reader gone before it writes (as `| head -1` after one line). */
function closedStdout(args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const c = spawn(process.execPath, [SHIM, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
  c.stdout.destroy();
  let stderr = '';
  c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => c.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

test('EPIPE on stdout ends quietly: exit 0, nothing on stderr', async (t) => {
  for (const args of [['--help'], ['help', 'vips', 'add'], ['cid', 'encode', '--cid', 'mvfst', '--id', '1234']]) {
    const r = await closedStdout(args);
    t.is(r.stderr, '', args.join(' '));
    t.is(r.code, 0, args.join(' '));
  }
});

const DIRECTOR = { listeners: [{ vip: '198.51.100.10:4433', realServers: [{ address: '192.0.2.1', port: 4433 }] }] };

test('director apply --dry-run plans without IPVS (or ipvsadm) and says from what', (t) => {
  const dir = tempDir('qs-msg');
  const f = path.join(dir, 'director.json');
  writeFileSync(f, JSON.stringify(DIRECTOR));
  // an empty PATH: no ipvsadm at all
  const env = { PATH: dir, QUICSTEER_DIRECTOR_STATE: path.join(dir, 'state.json') };
  const r = cli(['director', 'apply', '-f', f, '--dry-run'], { env });
  t.is(r.code, 0, r.stderr);
  t.is(
    r.stdout,
    'ipvsadm -A -u 198.51.100.10:4433 -s wrr\nipvsadm -a -u 198.51.100.10:4433 -r 192.0.2.1:4433 -g -w 1\n(dry run, planned from an empty table: ipvsadm not found: install it (apt-get install ipvsadm): nothing changed)\n',
  );
  const j = cli(['director', 'apply', '-f', f, '--dry-run', '--json'], { env });
  t.like(JSON.parse(j.stdout), { dryRun: true, applied: false, plannedFrom: { table: 'empty' } });
});

test('director apply: --notify without --health, and --health with --dry-run, are refused (exit 2, one line)', (t) => {
  const dir = tempDir('qs-msg');
  const f = path.join(dir, 'director.json');
  writeFileSync(f, JSON.stringify(DIRECTOR));
  const env = { PATH: dir, QUICSTEER_DIRECTOR_STATE: path.join(dir, 'state.json') };
  const n = cli(['director', 'apply', '-f', f, '--notify', '/bin/true'], { env });
  t.is(n.code, 2);
  t.is(n.stderr, 'quicsteer: director apply: --notify runs on health transitions: it needs --health\n');
  const h = cli(['director', 'apply', '-f', f, '--dry-run', '--health'], { env });
  t.is(h.code, 2);
  t.regex(h.stderr, /^quicsteer: director apply: --dry-run changes nothing, so there is nothing for --health to keep up/);
});
