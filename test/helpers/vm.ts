// test/vm runs only where IPVS may be changed freely: our qemu VM (/etc/quicsteer-vm) or a machine set up for it (QS_VM=1).
import test, { type ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';

export const inVm = existsSync('/etc/quicsteer-vm') || process.env.QS_VM === '1';

/** A serial test that runs only in the VM (elsewhere it is skipped, with a pointer to make vm-test). */
export function vmTest(title: string, impl: (t: ExecutionContext) => void | Promise<void>): void {
  if (inVm) test.serial(title, impl);
  else test.serial.skip(`${title} (VM only: make vm-test)`, impl);
}
