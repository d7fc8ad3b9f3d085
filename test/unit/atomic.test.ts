// writeFileAtomic (director keepalived -o): a writer killed midway leaves its temp file beside the
// target; the next write removes the temp files of writers that no longer run, and only those.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../src/control/atomic.js';
import { tempDir } from '../helpers/tmp.js';

test("a write removes the temp files killed writers of the same file left, not a live writer's or another file's", (t) => {
  const dir = tempDir('qs-atomic');
  const target = path.join(dir, 'keepalived.conf');
  const dead = spawnSync('true').pid!; // exited: its pid runs nothing now (unless reused, then its file stays)
  const left = {
    dead: `.keepalived.conf.${dead}.deadbeef.tmp`,
    live: `.keepalived.conf.${process.pid}.cafebabe.tmp`,
    other: `.other.conf.${dead}.deadbeef.tmp`,
    notOurs: `.keepalived.conf.${dead}.tmp`,
  };
  for (const n of Object.values(left)) writeFileSync(path.join(dir, n), 'half');
  writeFileAtomic(target, 'new\n', 0o644);
  t.is(readFileSync(target, 'utf8'), 'new\n');
  t.is(statSync(target).mode & 0o777, 0o644);
  t.deepEqual(readdirSync(dir).sort(), ['keepalived.conf', left.live, left.other, left.notOurs].sort(), "only the dead writer's temp file of this target went");
});

