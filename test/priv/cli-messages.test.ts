// The command's messages where privileges and live state matter: capabilities instead of uid 0, a
// closed stdout under stats, counter resets and vanished state under stats --watch, a director
// without IPVS found out at start, and its state file's faults named as file faults.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { privileged, isRoot, inCI } from '../helpers/env.js';
import { Netns } from '../helpers/netns.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { tempDir } from '../helpers/tmp.js';
import { cli, cliJson, SHIM } from '../helpers/cli.js';
import { openPinnedPerCpuMap } from '../../src/bpf/index.js';
import { whole, u32 } from '../../src/bpf/codec.js';
import { Counter, Reasons } from '../../src/bpf/layout.js';

const serial = (title: string, impl: Parameters<typeof privileged>[1]) => privileged(title, impl, test.serial);

/** quicsteer as uid/gid 65534 holding exactly `caps` (setpriv names: bpf, net_admin, sys_admin). */
function asNobodyWith(caps: string[], args: string[]) {
  const c = caps.map((x) => `+${x}`).join(',');
  const capArgs = caps.length ? [`--inh-caps=${c}`, `--ambient-caps=${c}`] : [];
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...capArgs, process.execPath, SHIM, ...args], { encoding: 'utf8', cwd: '/' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

privileged('capabilities, not uid 0: uid 65534 with CAP_BPF, CAP_NET_ADMIN (and CAP_SYS_ADMIN to mount) passes; without them the missing ones are named', (t) => {
  const fs = new TempBpffs();
  try {
    const status = ['--pin-path', fs.dir, 'status', '--json'];
    const ok = asNobodyWith(['bpf', 'net_admin', 'sys_admin'], status);
    t.is(ok.code, 0, ok.stderr);
    t.like(JSON.parse(ok.stdout), { pinPath: fs.dir, attached: [], vips: [] });
    // CAP_SYS_ADMIN stands in for CAP_BPF (kernels before 5.8)
    t.is(asNobodyWith(['net_admin', 'sys_admin'], status).code, 0);
    t.is(asNobodyWith(['bpf', 'net_admin'], status).code, 0, 'status mounts nothing: no CAP_SYS_ADMIN needed');

    const none = asNobodyWith([], status.slice(0, -1));
    t.is(none.code, 1);
    t.is(none.stderr, 'quicsteer: status needs CAP_BPF and CAP_NET_ADMIN (missing CAP_BPF and CAP_NET_ADMIN): run it as root (sudo) or with those capabilities\n');
    const noMount = asNobodyWith(['bpf', 'net_admin'], ['--pin-path', fs.dir, 'attach', 'lo', '--id', '0a0b']);
    t.is(noMount.code, 1);
    t.is(noMount.stderr, 'quicsteer: attach needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN (missing CAP_SYS_ADMIN): run it as root (sudo) or with those capabilities\n');
    const json = asNobodyWith(['bpf'], ['--pin-path', fs.dir, 'vips', 'list', '--json']);
    t.deepEqual(JSON.parse(json.stderr), {
      error: { code: 'capabilities', message: 'vips list needs CAP_BPF and CAP_NET_ADMIN (missing CAP_NET_ADMIN): run it as root (sudo) or with those capabilities', exitCode: 1 },
    });
  } finally {
    fs.destroy();
  }
});

/** One namespace with eth2 (generic XDP) and a private pin path. */
class Lab {
  readonly ns = new Netns('qs-msg');
  readonly fs = new TempBpffs();
  constructor() {
    this.ns.veth('eth2', 'eth2p');
  }
  q(...args: string[]) {
    return cli(['--pin-path', this.fs.dir, ...args], { ns: this.ns.name });
  }
  /** Sets one reason counter on every CPU, as the data path would have counted it. */
  setReason(i: number, packets: bigint) {
    const m = openPinnedPerCpuMap(this.fs.path('qs_stats'), whole(u32), Counter);
    try {
      m.update(i, { packets, bytes: packets * 100n });
    } finally {
      m.close();
    }
  }
  destroy() {
    this.ns.destroy();
    this.fs.destroy();
  }
}

let lab: Lab | undefined;
test.before(() => {
  if (isRoot || inCI) {
    lab = new Lab();
    const r = lab.q('attach', 'eth2', '--id', '0a0b', '--mode', 'generic');
    if (r.code !== 0) throw new Error(`attach failed: ${r.stderr}`);
  }
});
test.after.always(() => lab?.destroy());

/** quicsteer stats …, as a running process: its stdout lines as they come, and its end. */
function running(args: string[]) {
  const c = spawn(process.execPath, [SHIM, '--pin-path', lab!.fs.dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  c.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    waiters.splice(0).forEach((w) => w());
  });
  c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => c.kill('SIGKILL'), 15_000);
  const end = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    c.on('close', (code) => (clearTimeout(killer), resolve({ code, stdout, stderr }))),
  );
  const firstOutput = () => new Promise<void>((resolve) => (stdout ? resolve() : waiters.push(resolve)));
  return { firstOutput, end };
}

serial('vips add --cid <spec> <address>: the address after --cid is the operand', (t) => {
  const r = lab!.q('vips', 'add', '--cid', 'msquic', '192.0.2.10:443');
  t.is(r.code, 0, r.stderr);
  t.deepEqual(cliJson<{ address: string; cid: string[] }[]>(lab!.q('vips', 'list', '--json')), [{ address: '192.0.2.10:443', cid: ['msquic'] }]);
});

serial('stats into a closed pipe (stats | head -1): exit 0, no stack trace', async (t) => {
  const c = spawn(process.execPath, [SHIM, '--pin-path', lab!.fs.dir, 'stats'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
  c.stdout.destroy();
  let stderr = '';
  c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise((resolve) => c.on('close', resolve));
  t.is(stderr, '');
  t.is(code, 0);
});

serial('stats --watch: a counter that went back is a reset, never a negative rate (table and --json)', async (t) => {
  const name = Reasons[0]!.toLowerCase();
  for (const asJson of [true, false]) {
    lab!.setReason(0, 1_000_000n);
    const w = running(['stats', '--watch', '0.5', '--count', '2', ...(asJson ? ['--json'] : [])]);
    await w.firstOutput();
    lab!.setReason(0, 0n);
    const r = await w.end;
    t.is(r.code, 0, r.stderr);
    if (asJson) {
      const [first, second] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { reasons: Record<string, { packets: number; reset?: boolean }> });
      t.is(first!.reasons[name]!.reset, undefined);
      t.is(second!.reasons[name]!.reset, true);
      t.true(Object.entries(second!.reasons).every(([k, v]) => k === name || v.reset === undefined), 'only the counter that went back');
    } else {
      t.regex(r.stdout, new RegExp(`^${name}\\s+\\d+\\s+\\d+\\s+reset\\s+reset$`, 'm'));
      t.notRegex(r.stdout, /\s-\d/, 'no negative rate');
    }
  }
});

serial('stats --watch stops with one line, exit 1, when the pinned state goes away (detach)', async (t) => {
  const w = running(['stats', '--watch', '0.2']);
  await w.firstOutput();
  const d = lab!.q('detach', 'eth2');
  t.is(d.code, 0, d.stderr);
  const r = await w.end;
  t.is(r.code, 1, `stderr: ${r.stderr}`);
  t.is(r.stderr, `quicsteer: the pinned state under ${lab!.fs.dir} went away (detached?): stopping\n`);
});

privileged('director health finds out at start that ipvsadm is missing: one line, exit 1', (t) => {
  const dir = tempDir('qs-msg');
  const f = path.join(dir, 'director.json');
  writeFileSync(f, JSON.stringify({ listeners: [{ vip: '198.51.100.10:4433', realServers: [{ address: '192.0.2.1', port: 4433 }] }] }));
  const r = spawnSync(process.execPath, [SHIM, 'director', 'health', '-f', f, '--state', path.join(dir, 'state.json')], {
    encoding: 'utf8',
    env: { ...process.env, PATH: dir, QUICSTEER_DEBUG: '' },
    timeout: 8000,
  });
  t.is(r.status, 1, `signal ${r.signal}: ${r.stderr}`);
  t.is(r.stdout, '');
  t.is(r.stderr, 'quicsteer: ipvsadm not found: install it (apt-get install ipvsadm)\n');
});

privileged("the director's state file: unreadable or corrupt is named as such, never \"kernel refused\"", (t) => {
  const dir = tempDir('qs-msg');
  const asDir = path.join(dir, 'is-a-dir');
  mkdirSync(asDir);
  const a = cli(['director', 'status', '--state', asDir]);
  t.is(a.code, 1);
  t.is(a.stderr, `quicsteer: cannot read the director state ${asDir}: EISDIR (illegal operation on a directory)\n`);
  const bad = path.join(dir, 'director.json');
  writeFileSync(bad, '{"services": [');
  const b = cli(['director', 'status', '--state', bad]);
  t.is(b.code, 1);
  t.regex(b.stderr, new RegExp(`^quicsteer: the director state ${bad} is corrupt \\(.+\\): fix it, or remove it and run director apply again\\n$`));
});
