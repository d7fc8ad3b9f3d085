// Opening and closing objects 10,000 times leaves the process' fd count where it was.
import test from 'ava';
import { readdirSync } from 'node:fs';
import { native } from '../../src/bpf/native.js';
import { ObjectSpec } from '../../src/bpf/index.js';
import { BPF_OBJ } from '../helpers/env.js';

export const fdCount = () => readdirSync('/proc/self/fd').length;

test.serial('10,000 object opens and closes leak no fd', (t) => {
  const before = fdCount();
  for (let i = 0; i < 10_000; i++) ObjectSpec.open(BPF_OBJ).close();
  t.is(fdCount(), before);
});

test.serial('10,000 failed opens and netns fd opens leak no fd', (t) => {
  const n = native();
  const before = fdCount();
  for (let i = 0; i < 10_000; i++) {
    t.throws(() => new n.BpfObject('/nonexistent.o'));
    n.close(n.netnsOpen('/proc/self/ns/net'));
  }
  t.is(fdCount(), before);
});
