// Every native function called with hostile arguments either returns or throws an Error: the process never crashes.
import test from 'ava';
import { openSync, closeSync } from 'node:fs';
import { native } from '../../src/bpf/native.js';

test('61k calls with wrong types, bad fds and odd sizes: only Errors, never a crash', (t) => {
  const n = native();
  const devnull = openSync('/dev/null', 'r');
  try {
    const values: unknown[] = [undefined, null, -1, 1.5, NaN, 2 ** 40, 'x', {}, [], Buffer.alloc(0), Buffer.alloc(24), devnull, 999_999];
    // close/dup would act on real fds of this process (ava's own pipes): exercised elsewhere
    const skip = new Set(['close', 'dup', 'BpfObject', 'constants', 'libbpfVersion']);
    let calls = 0;
    let errors = 0;
    for (const [name, fn] of Object.entries(n as unknown as Record<string, unknown>)) {
      if (skip.has(name) || typeof fn !== 'function') continue;
      for (const a of values)
        for (const b of values)
          for (const c of values) {
            calls++;
            try {
              (fn as (...args: unknown[]) => unknown)(a, b, c);
            } catch (e) {
              errors++;
              if (!(e instanceof Error)) t.fail(`${name} threw a non-Error: ${String(e)}`);
            }
          }
    }
    n.setDebug(false);
    t.true(calls > 50_000);
    t.true(errors > calls * 0.9, `${errors} errors of ${calls} calls`);
  } finally {
    closeSync(devnull);
  }
});

test('constructing BpfObject with hostile arguments only throws', (t) => {
  const Ctor = native().BpfObject as unknown as new (...args: unknown[]) => { close(): void };
  for (const a of [undefined, null, 1, {}, [], Buffer.alloc(4), '', '/dev/null', '/proc/self/maps'])
    for (const b of [undefined, null, 1, 'x', {}, { pinRootPath: 5 }, { objectName: {} }])
      t.throws(() => new Ctor(a, b));
});

