// On Debian 12's own kernel (6.1, no BPF crypto kfuncs): status says so, attach picks the table AES,
// and --aes kfunc is refused before anything is loaded or pinned.
import os from 'node:os';
import { readdirSync } from 'node:fs';
import { vmTest } from '../helpers/vm.js';
import { Netns } from '../helpers/netns.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { cli, cliJson } from '../helpers/cli.js';

const [major, minor] = os.release().split('.').map(Number) as [number, number];
const before610 = major < 6 || (major === 6 && minor < 10);

vmTest('a kernel without the crypto kfuncs: table only, status says so, --aes kfunc refused and nothing pinned', (t) => {
  if (!before610) {
    t.pass(`kernel ${os.release()} is 6.10 or later: the host tier covers it`);
    return;
  }
  const ns = new Netns('qs-vaes');
  const fs = new TempBpffs();
  try {
    ns.ip('link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
    ns.ip('link', 'set', 'veth0', 'up');
    ns.ip('link', 'set', 'veth1', 'up');
    const q = (...args: string[]) => cli(['--pin-path', fs.dir, ...args], { ns: ns.name });
    const pins = () => readdirSync(fs.dir).filter((f) => !f.endsWith('.debug'));

    const k = q('attach', 'veth0', '--id', '0a0b', '--aes', 'kfunc');
    t.is(k.code, 1);
    t.is(k.stderr, `quicsteer: --aes kfunc: this kernel (${os.release()}) has no BPF crypto kfuncs (bpf_crypto_decrypt needs Linux >= 6.10): use --aes table, or auto\n`);
    t.deepEqual(pins(), []);

    t.like(cliJson(q('attach', 'veth0', '--id', '0a0b', '--json')), { aes: 'table', program: 'attached' });
    const s = cliJson<{ attached: { aes: string }[]; aes: { kernelKfuncs: boolean } }>(q('status', '--json'));
    t.deepEqual([s.attached.map((a) => a.aes), s.aes.kernelKfuncs], [['table'], false]);
    t.regex(q('status').stdout, /^aes: table\naes kfuncs in this kernel: no /m);
    t.false(pins().some((p) => ['qs_crypto', 'qs_aes_buf', 'crypto-set'].includes(p)), 'nothing of the kfunc object');
    t.is(q('reset').code, 0);
    t.deepEqual(pins(), []);
  } finally {
    ns.destroy();
    fs.destroy();
  }
});
