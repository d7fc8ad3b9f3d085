// quicsteer agent's bad inputs and faults, in a namespace of the test's own with a veth: every bad
// option or file is one line and a non-zero exit with nothing changed; one agent per pin path; kill -9
// at random moments of its start and of its reloads never leaves a state the next agent cannot take
// over (it converges, and status finds nothing wedged).
import test from 'ava';
import { writeFileSync, renameSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { privileged, privilegedSerial } from '../helpers/env.js';
import { cli, SHIM } from '../helpers/cli.js';
import { spawn } from 'node:child_process';
import { AgentProc } from '../helpers/agent.js';
import { Netns } from '../helpers/netns.js';
import { TempBpffs } from '../../src/lab/bpffs.js';
import { tempDir } from '../../src/lab/tmp.js';

let ns: Netns | undefined;
let pins: TempBpffs | undefined;
// the refusals' own pin path: nothing may ever be pinned there
let untouched: TempBpffs | undefined;
const dir = tempDir('qs-agentf');
const setup = () => {
  if (!ns) {
    ns = new Netns('qs-agf');
    ns.veth('v0', 'v1');
    pins = new TempBpffs();
    untouched = new TempBpffs();
  }
  return { ns, pin: pins!.dir };
};
test.after.always(() => {
  if (pins) cli(['--pin-path', pins.dir, 'reset'], { ns: ns!.name });
  pins?.destroy();
  untouched?.destroy();
  ns?.destroy();
});

const good = (o: { mac2?: string; vips?: number } = {}) => ({
  localId: '0001',
  interfaces: [{ name: 'v0', mode: 'generic' }],
  vips: Array.from({ length: o.vips ?? 1 }, (_, i) => ({ address: `192.0.2.${10 + i}:443`, cid: 'quic-lb:sid=2,nonce=6' })),
  servers: [
    { id: '0001', mac: '02:00:00:00:00:01' },
    { id: '0002', mac: o.mac2 ?? '02:00:00:00:00:02' },
  ],
});
const write = (name: string, body: unknown) => {
  const f = path.join(dir, name);
  writeFileSync(`${f}.tmp`, typeof body === 'string' ? body : JSON.stringify(body));
  renameSync(`${f}.tmp`, f);
  return f;
};
const agentCli = (args: string[], pin = (setup(), untouched!.dir)) => cli(['--pin-path', pin, 'agent', '--metrics', 'off', ...args], { ns: setup().ns.name });
const pinned = () => readdirSync((setup(), untouched!.dir)).filter((f) => !f.endsWith('.debug'));

for (const [what, args, code, line] of [
  ['a bad --metrics address', ['-f', '/nonexistent', '--metrics', 'localhost:80'], 2, /bad --metrics 'localhost:80': expected <ipv4>:<port>/],
  ['a bad --metrics port', ['-f', '/nonexistent', '--metrics', '127.0.0.1:0'], 2, /bad --metrics '127.0.0.1:0': port must be 1..65535/],
  ['a bad --log-format', ['-f', '/nonexistent', '--log-format', 'xml'], 2, /argument 'xml' is invalid/],
  ['no -f', [], 2, /required option '-f, --file <config.json>' not specified/],
  ['a missing file', ['-f', '/nonexistent/q.json'], 1, /cannot read \/nonexistent\/q\.json: ENOENT/],
] as const)
  privileged(`agent refuses ${what}: one line, exit ${code}, nothing pinned`, (t) => {
    const r = agentCli([...args]);
    t.is(r.code, code, r.stderr);
    t.regex(r.stderr + r.stdout, line);
    t.deepEqual(pinned(), []);
  });

for (const [what, patch, line] of [
  ['an interval below 5 s', { health: { interval: 4 } }, /health\.interval: Number must be greater than or equal to 5/],
  ['a threshold above 10', { health: { unhealthyThreshold: 11 } }, /health\.unhealthyThreshold: Number must be less than or equal to 10/],
  ['a timeout above the interval', { health: { timeout: 10, interval: 5 } }, /health: timeout must not exceed interval/],
  ['a probe without a port', { servers: [{ id: '0002', mac: '02:00:00:00:00:02', probe: '192.0.2.2' }] }, /servers\[0\]\.probe: expected <ipv4>:<port>/],
  ['an unknown health key', { health: { every: 5 } }, /health: Unrecognized key\(s\) in object: 'every'/],
] as const)
  privileged(`agent refuses a file with ${what}: one line, exit 2, nothing pinned`, (t) => {
    const f = write(`bad-${what.replace(/\W+/g, '-')}.json`, { ...good(), ...patch });
    const r = agentCli(['-f', f]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stdout, line, 'the log line says why');
    t.is(r.stdout.split('\n').filter((l) => l.startsWith('error:')).length, 1);
    t.deepEqual(pinned(), []);
  });

privilegedSerial('one agent per pin path: a second one is refused naming the first; the first is unaffected', async (t) => {
  const { ns, pin } = setup();
  const f = write('one.json', good());
  const a = new AgentProc(ns.name, pin, f);
  await a.ready();
  const r = agentCli(['-f', f], pin);
  t.is(r.code, 1);
  t.regex(r.stderr + r.stdout, new RegExp(`another quicsteer agent runs for ${pin} \\(pid ${a.pid} `));
  t.is((await a.stop()).code, 0);
});

privilegedSerial('kill -9 at random moments of the start and of reloads: the next agent always takes over and converges (24 kills)', async (t) => {
  const { ns, pin } = setup();
  const files = [write('k1.json', good()), write('k2.json', good({ mac2: '02:00:00:00:00:22', vips: 40 }))];
  const kills = { start: 0, reload: 0 };
  for (let i = 0; i < 24; i++) {
    const file = files[i % 2]!;
    const a = new AgentProc(ns.name, pin, file);
    if (i % 2 === 0) {
      // during the start: anywhere from reading the file to attaching and writing the tables
      await new Promise((r) => setTimeout(r, Math.random() * 900));
      kills.start++;
    } else {
      // during a reload: the file flips to the other one, the agent is killed while it applies
      await a.ready();
      write(path.basename(file), i % 4 === 1 ? good({ mac2: '02:00:00:00:00:33', vips: 80 }) : good());
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 400));
      kills.reload++;
    }
    a.kill('SIGKILL');
    await a.exited;
    // the next agent (the same file) converges, whatever the dead one left
    const b = new AgentProc(ns.name, pin, file);
    await b.ready();
    const st = JSON.parse(cli(['--pin-path', pin, 'status', '--json'], { ns: ns.name }).stdout) as { warnings: string[]; attached: unknown[]; vips: unknown[] };
    t.deepEqual(st.warnings, [], `run ${i}: status finds nothing wrong`);
    t.is(st.attached.length, 1);
    t.is((await b.stop()).code, 0);
    // and a third start finds nothing left to do
    const c = new AgentProc(ns.name, pin, file);
    await c.ready();
    t.truthy(c.events.find((e) => e.event === 'unchanged' && e.trigger === 'start'), `run ${i}: converged`);
    t.is((await c.stop()).code, 0);
  }
  t.log(`kill -9: ${kills.start} during the start, ${kills.reload} during a reload; every next agent converged`);
});

privilegedSerial('an agent reloading races 24 CLI writers on its pin path: every writer and every reload succeeds (the writer lock), and a SIGHUP converges the tables to the file', async (t) => {
  const { ns, pin } = setup();
  const file = write('race.json', good());
  const a = new AgentProc(ns.name, pin, file);
  await a.ready();
  const since = a.events.length;
  const runCli = (args: string[]) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn('ip', ['netns', 'exec', ns.name, process.execPath, SHIM, '--pin-path', pin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('exit', (code) => resolve({ code, err }));
    });
  // the file flips 6 times while 24 writers change servers and VIPs by hand
  const writers = Array.from({ length: 24 }, (_, i) =>
    runCli(i % 2 === 0 ? ['servers', 'add', `0e${(i + 16).toString(16)}`, '--mac', `02:00:00:00:0e:${(i + 16).toString(16)}`] : ['vips', 'add', `198.51.100.${i}:443`, '--cid', 'quic-lb:sid=2,nonce=6']),
  );
  for (let i = 0; i < 6; i++) {
    write('race.json', good(i % 2 === 0 ? { mac2: '02:00:00:00:00:44', vips: 30 } : {}));
    await new Promise((r) => setTimeout(r, 400));
  }
  const results = await Promise.all(writers);
  t.deepEqual(results.filter((r) => r.code !== 0).map((r) => r.err), [], 'every CLI writer succeeded');
  await new Promise((r) => setTimeout(r, 800));
  t.deepEqual(a.events.slice(since).filter((e) => e.level === 'error').map((e) => e.msg), [], 'every reload succeeded');
  // the file is the truth: the next reload takes back what a writer added
  t.is((await runCli(['servers', 'add', '0eff', '--mac', '02:00:00:00:0e:ff'])).code, 0);
  const before = a.events.length;
  a.kill('SIGHUP');
  const e = await a.waitFor((x) => x.trigger === 'SIGHUP' && (x.event === 'applied' || x.event === 'unchanged'), 15_000, before);
  t.is(e.event, 'applied');
  t.true((e.changes as string[]).includes('- server 0eff'), 'the reload undid the hand-made server, and logged it');
  const st = JSON.parse(cli(['--pin-path', pin, 'status', '--json'], { ns: ns.name }).stdout) as { warnings: string[]; vips: unknown[]; servers: { id: string; mac: string }[] };
  t.log(`after the race, SIGHUP: ${e.event}${e.changes ? ` (${(e.changes as string[]).length} changes undone)` : ''}`);
  t.deepEqual(st.warnings, []);
  t.is(st.vips.length, 1, 'the VIPs are the file\'s');
  t.deepEqual(st.servers.map((s) => `${s.id} ${s.mac}`).sort(), ['0001 02:00:00:00:00:01', '0002 02:00:00:00:00:02'], "the servers are the file's");
  t.is((await a.stop()).code, 0);
});
