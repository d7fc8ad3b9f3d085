#!/usr/bin/env node
// Runs the ava suite (TAP), echoes it, and closes with "ava: N passed, N failed, N skipped".
// Fails on any failure, on no test at all, and — with CI=true — on any skipped test.
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { appendFileSync } from 'node:fs';

const ci = process.env.CI === 'true';
const ava = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', '--tap', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let passed = 0, failed = 0, skipped = 0, todo = 0;
const skippedTitles = [];
const rl = readline.createInterface({ input: ava.stdout });
rl.on('line', (line) => {
  process.stdout.write(line + '\n');
  const m = /^(not ok|ok) \d+ - (.*?)(?:\s+#\s+(SKIP|TODO)\b.*)?$/.exec(line);
  if (!m) return;
  if (m[3] === 'SKIP') { skipped++; skippedTitles.push(m[2]); }
  else if (m[3] === 'TODO') todo++;
  else if (m[1] === 'ok') passed++;
  else failed++;
});
const code = await new Promise((resolve) => ava.on('close', (c, sig) => resolve(sig ? 1 : c ?? 1)));
await new Promise((resolve) => (rl.closed ? resolve() : rl.once('close', resolve)));
let exit = code === 0 ? 0 : 1;
if (failed > 0) exit = 1;
if (passed + failed === 0) {
  process.stdout.write('no test ran\n');
  exit = 1;
}
if (todo > 0) {
  process.stdout.write(`${todo} test(s) marked todo: not allowed\n`);
  exit = 1;
}
if (ci && skipped > 0) {
  process.stdout.write(`CI=true: ${skipped} skipped test(s) count as failures:\n${skippedTitles.map((t) => `  - ${t}\n`).join('')}`);
  exit = 1;
}
process.stdout.write(`ava: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
// make test runs several tiers (host, VM): each adds its counts for the closing total
if (process.env.QS_COUNTS_FILE) appendFileSync(process.env.QS_COUNTS_FILE, `${passed} ${failed} ${skipped} ${exit}\n`);
process.exit(exit);
