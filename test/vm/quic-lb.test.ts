// Encrypted QUIC-LB on Debian 12's 6.1 (the VM tier), where only the table AES can run: both builds of
// the program load, and test/priv/quic-lb-xdp.test.ts (AES, draft vectors, cache) runs here as on the host.
import { release } from 'node:os';
import path from 'node:path';
import { ObjectSpec } from '../../src/bpf/index.js';
import { ROOT } from '../helpers/paths.js';
import { vmTest } from '../helpers/vm.js';
import '../priv/quic-lb-xdp.test.js';

for (const build of ['quicsteer', 'quicsteer_nocache']) {
  vmTest(`${build}.bpf.o (table AES) loads on this kernel within the verifier's limit`, (t) => {
    const coll = ObjectSpec.open(path.join(ROOT, `build/bpf/${build}.bpf.o`)).load();
    try {
      const i = coll.program('quicsteer_xdp').info();
      t.log(`kernel ${release()}: ${i.verifiedInsns} instructions verified, ${i.xlatedProgLen} bytes xlated, ${i.jitedProgLen} jited`);
      t.true(i.verifiedInsns > 0 && i.verifiedInsns < 1_000_000, `${i.verifiedInsns} verified`);
    } finally {
      coll.close();
    }
  });
}
