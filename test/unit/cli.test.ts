// The quicsteer command starts from any directory, prints help, and exits 2 on bad usage.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT, inCI } from '../helpers/env.js';

const shim = path.join(ROOT, 'scripts/quicsteer.mjs');

function run(cmd: string, args: string[]) {
  return spawnSync(cmd, args, { cwd: '/', encoding: 'utf8' });
}

test('--help from another directory exits 0 and shows usage', (t) => {
  const r = run(shim, ['--help']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^Usage: quicsteer/m);
});

test('an unknown option is bad usage: exit 2, one error line first', (t) => {
  const r = run(shim, ['--no-such-option']);
  t.is(r.status, 2);
  t.regex(r.stderr.split('\n')[0]!, /unknown option '--no-such-option'/);
});

test('quicsteer is on PATH after setup (required under CI)', (t) => {
  const onPath = spawnSync('sh', ['-c', 'command -v quicsteer'], { encoding: 'utf8' }).status === 0;
  if (inCI) t.true(onPath, 'quicsteer is not on PATH: the setup command must install it');
  // outside CI, setup may not have run: check the launcher it links to instead
  const r = onPath ? run('quicsteer', ['--version']) : run(shim, ['--version']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
});
