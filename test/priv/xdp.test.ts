// XDP as bpf_links on veths inside a namespace the test creates: attach, pin, update, detach, live frames.
import { rmSync } from 'node:fs';
import { ObjectSpec, Link, XdpAction, isNativeError, type Collection } from '../../src/bpf/index.js';
import { whole, u32, u64 } from '../../src/bpf/codec.js';
import { native } from '../../src/bpf/native.js';
import { BPF_OBJ, TEST_OBJ, privileged } from '../helpers/env.js';
import { Netns } from '../helpers/netns.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { eth, MAC_A, MAC_B } from '../helpers/packets.js';

// test_count counts only frames of this EtherType (IEEE local experimental).
const TEST_ETH_P = 0x88b5;

function withNs(fn: (ns: Netns) => void): void {
  const ns = new Netns('qs-xdp');
  try {
    ns.veth('veth0', 'veth1');
    fn(ns);
  } finally {
    ns.destroy();
  }
}

function both(): { qs: Collection; tx: Collection } {
  return { qs: ObjectSpec.open(BPF_OBJ).load(), tx: ObjectSpec.open(TEST_OBJ).load() };
}

for (const mode of ['native', 'generic'] as const) {
  privileged(`attach in ${mode} mode, update the program in place, detach`, (t) => {
    withNs((ns) => {
      const { qs, tx } = both();
      try {
        const prog = qs.program('quicsteer_xdp');
        const other = tx.program('test_count');
        const ifindex = ns.enter(() => native().ifNameToIndex('veth0'));
        const link = ns.enter(() => Link.attachXdp(prog, { ifindex, mode }));
        t.like(link.info(), { type: native().constants.BPF_LINK_TYPE_XDP, progId: prog.info().id, ifindex });
        t.is(ns.xdpProgId('veth0'), prog.info().id);

        // a second attachment to the same interface is refused, not stacked
        const busy = t.throws(() => ns.enter(() => Link.attachXdp(other, { ifindex, mode })));
        t.true(isNativeError(busy));
        t.is((busy as unknown as { code: string }).code, 'EBUSY');

        // swap without a gap; a stale expectation is refused
        link.update(other, prog);
        t.is(ns.xdpProgId('veth0'), other.info().id);
        t.throws(() => link.update(prog, prog), { code: 'EPERM' } as object);
        t.is(ns.xdpProgId('veth0'), other.info().id);

        link.detach();
        t.is(ns.xdpProgId('veth0'), undefined);
        link.close();
      } finally {
        qs.close();
        tx.close();
      }
    });
  });
}

privileged('attaching to a missing ifindex fails with the kernel\'s EINVAL', (t) => {
  withNs((ns) => {
    const { qs, tx } = both();
    try {
      const e = t.throws(() => ns.enter(() => Link.attachXdp(qs.program('quicsteer_xdp'), { ifindex: 99999, mode: 'generic' })));
      t.true(isNativeError(e));
      t.like(e as object, { code: 'EINVAL', syscall: 'bpf_link_create' });
    } finally {
      qs.close();
      tx.close();
    }
  });
});

privileged('a pinned link keeps the program attached after its fd closes; unpinned it goes', (t) => {
  withNs((ns) => {
    const { qs, tx } = both();
    const fs = new TempBpffs();
    try {
      const prog = qs.program('quicsteer_xdp');
      const progId = prog.info().id;
      const ifindex = ns.enter(() => native().ifNameToIndex('veth0'));
      const link = ns.enter(() => Link.attachXdp(prog, { ifindex, mode: 'native' }));
      const id = link.info().id;
      link.pin(fs.path('link'));
      link.close();
      qs.close();
      t.is(ns.xdpProgId('veth0'), progId, 'still attached through the pin');

      const again = Link.openPinned(fs.path('link'));
      t.like(again.info(), { id, ifindex, progId });
      again.close();
      t.is(ns.xdpProgId('veth0'), progId);

      // removing the pin drops the last reference: the program detaches
      rmSync(fs.path('link'));
      t.is(ns.xdpProgId('veth0'), undefined);
      t.throws(() => Link.openPinned(fs.path('link')), { code: 'ENOENT' } as object);
    } finally {
      qs.close();
      tx.close();
      fs.destroy();
    }
  });
});

privileged('live frames: XDP_TX out of veth0 arrives at veth1', (t) => {
  withNs((ns) => {
    const tx = ObjectSpec.open(TEST_OBJ).load();
    try {
      const reflect = tx.program('test_reflect');
      const count = tx.program('test_count');
      const rx = tx.map('test_rx', whole(u32), whole(u64));
      const [i0, i1] = ns.enter(() => [native().ifNameToIndex('veth0'), native().ifNameToIndex('veth1')]);
      // the receiving veth must run NAPI: a native XDP program on it does that (and counts)
      const peer = ns.enter(() => Link.attachXdp(count, { ifindex: i1!, mode: 'native' }));
      try {
        const r = ns.enter(() => reflect.testRun({ data: eth(MAC_B, MAC_A, TEST_ETH_P, Buffer.alloc(50)), repeat: 1000, liveFrames: true, ingressIfindex: i0! }));
        t.is(r.retval, 0);
        let seen = 0n;
        for (let i = 0; i < 50 && seen < 1000n; i++) {
          seen = rx.lookup(0)!;
          if (seen < 1000n) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
        t.is(seen, 1000n);
      } finally {
        peer.close();
      }
      // control: without live frames the same run transmits nothing
      rx.update(0, 0n);
      const dry = ns.enter(() => reflect.testRun({ data: eth(MAC_B, MAC_A, TEST_ETH_P, Buffer.alloc(50)), repeat: 10 }));
      t.is(dry.retval, XdpAction.TX);
      t.is(rx.lookup(0), 0n);
    } finally {
      tx.close();
    }
  });
});

privileged('program info carries the verifier\'s instruction count and both program sizes', (t) => {
  const { qs, tx } = both();
  try {
    const big = qs.program('quicsteer_xdp').info();
    const small = tx.program('test_pass').info();
    for (const i of [big, small]) for (const k of ['verifiedInsns', 'xlatedProgLen', 'jitedProgLen'] as const) t.true(i[k] > 0, `${i.name} ${k}`);
    // BPF instructions are 8 bytes; the steering program is far bigger than a bare return
    t.is(big.xlatedProgLen % 8, 0);
    t.true(big.verifiedInsns > 10 * small.verifiedInsns);
  } finally {
    qs.close();
    tx.close();
  }
});
