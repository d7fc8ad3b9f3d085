// Test tiers: privileged tests run as root; they skip only outside CI, and under CI=true a missing privilege fails.
import anyTest, { type ExecutionContext } from 'ava';
import { isRoot, inCI } from './paths.js';

export { isRoot, inCI, ROOT, BPF_OBJ, TEST_OBJ, AES_OBJ, BPF_KFUNC_OBJ, TEST_AES_KFUNC_OBJ } from './paths.js';

type Impl = (t: ExecutionContext) => void | Promise<void>;
type Declare = { (title: string, impl: Impl): void; skip(title: string, impl: Impl): void };

/** Declares a test that needs root (BPF, netns, mounts). */
export function privileged(title: string, impl: Impl, test: Declare = anyTest): void {
  if (isRoot) {
    test(title, impl);
  } else if (inCI) {
    test(title, (t) => t.fail('needs root, and CI=true forbids skipping privileged tests'));
  } else {
    test.skip(`${title} (needs root)`, impl);
  }
}

/** Same, but serial (for tests that count process-wide resources such as fds). */
export function privilegedSerial(title: string, impl: Impl): void {
  privileged(title, impl, anyTest.serial);
}
