// IPVS through ipvsadm, in a VM only (make vm-test): a UDP service with a direct-routing real server
// is added, read back with `ipvsadm -S -n` and cleared. `ipvsadm -C` empties the whole table, so these
// tests never run on a host: they need /etc/quicsteer-vm (written by scripts/vm/init) or QS_VM=1.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { vmTest } from '../helpers/vm.js';

const VIP = '198.51.100.10:4433';
const RS = '192.0.2.1:4433';

function run(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const ipvsadm = (...args: string[]): string => run('ipvsadm', ...args);
const lines = (out: string): string[] => out.split('\n').filter((l) => l.trim() !== '');
// IPVS is there, built in or loaded (/proc/net/ip_vs appears with the ip_vs module)
const ipvsPresent = (): boolean => existsSync('/proc/net/ip_vs');

vmTest('ipvsadm adds a UDP wrr service and a DR real server, saves them, clears them', (t) => {
  // a stock Debian kernel has IPVS as modules: load it as any director would (ipvsadm would too)
  if (!ipvsPresent()) run('modprobe', 'ip_vs');
  t.true(ipvsPresent(), 'IPVS is available');
  t.teardown(() => {
    ipvsadm('-C');
  });
  ipvsadm('-C');
  t.deepEqual(lines(ipvsadm('-S', '-n')), []);

  // (the wrr scheduler's module, if not loaded yet, comes through the kernel's request_module)
  ipvsadm('-A', '-u', VIP, '-s', 'wrr');
  ipvsadm('-a', '-u', VIP, '-r', RS, '-g', '-w', '3');
  t.deepEqual(lines(ipvsadm('-S', '-n')), [`-A -u ${VIP} -s wrr`, `-a -u ${VIP} -r ${RS} -g -w 3`]);

  ipvsadm('-C');
  t.deepEqual(lines(ipvsadm('-S', '-n')), []);
});
