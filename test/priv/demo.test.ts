// quicsteer demo, as a newcomer runs it: a separate process, plain words, then nothing left behind.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { privilegedSerial } from '../helpers/env.js';
import { cli } from '../helpers/cli.js';
import { LAB_RECORDS } from '../../src/lab/owner.js';

// what a process left behind: its names carry its pid (qs-m*-<pid>-*, qs-bpffs-<pid>-*, qs-lab-<pid>-*), and its record
const leftBy = (pid: number) => ({
  ns: execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('qs-m') && l.includes(`-${pid}-`)),
  mounts: readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(`qs-bpffs-${pid}-`)),
  tmp: readdirSync('/tmp').filter((d) => d.startsWith(`qs-lab-${pid}-`) || d.startsWith(`qs-quic-${pid}-`)),
  records: existsSync(LAB_RECORDS) ? readdirSync(LAB_RECORDS).filter((f) => f.startsWith(`${pid}.`)) : [],
});

privilegedSerial('demo: the transfer survives with quicsteer and fails without, told in plain words; it cleans up', (t) => {
  const r = cli(['demo', '--event', 'migration']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  const steps = r.stdout.split('\n\n');
  t.regex(steps[0]!, /\n {2}swept: nothing left by earlier runs$|\n {2}swept what earlier runs left \(dead owner pid [\d, ]+\): .*$/, 'one line on what earlier runs left');
  t.regex(steps[1]!, /^1\. with quicsteer attached on every real server\n/);
  t.regex(steps[1]!, /rs\d's quicsteer steered \d+ packets to rs1 \(quicsteer stats: steered\)/);
  t.regex(steps[1]!, /result: transfer complete in [\d.]+ s, the download byte-identical, the upload whole/);
  t.regex(steps[2]!, /^2\. the same, with quicsteer detached from every real server\n/);
  t.regex(steps[2]!, /nothing was steered/);
  t.regex(steps[2]!, /result: transfer failed \(download incomplete/);
  t.regex(r.stdout, /quicsteer kept the connection alive; without it, the same change broke it\.\ncleaned up/);
  t.deepEqual(leftBy(r.pid), { ns: [], mounts: [], tmp: [], records: [] }, 'no namespace, bpffs mount, temp dir or ownership record left');
});
