// The pinned state keeps each server ID's counter slot across generations, and a slot given to a new ID starts at zero.
import { privilegedSerial } from '../helpers/env.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { PinnedState, type ServerInput } from '../../src/control/state.js';

privilegedSerial('server counter slots: kept per ID across generations; a reused slot is zeroed, in one batch for many', (t) => {
  const fs = new TempBpffs();
  const st = PinnedState.openOrCreate(fs.dir);
  try {
    const server = (id: string): ServerInput => ({ id, mac: '02:00:00:00:00:01', state: 'up', ifindex: 0 });
    const commit = (servers: ServerInput[]) => st.commit({ localId: null, vips: [], servers });
    commit([server('0a0b'), server('0c0d')]);
    const slots = () => Object.fromEntries(st.readServers().map((s) => [s.id, s.slot]));
    t.deepEqual(slots(), { '0a0b': 0, '0c0d': 1 });
    const count = { packets: 5n, bytes: 500n };
    st.serverStats.update(0, count);
    st.serverStats.update(1, count);
    commit([server('0c0d'), server('0e0f')]);
    t.deepEqual(slots(), { '0c0d': 1, '0e0f': 0 }, '0c0d keeps its slot; the new ID gets the free one');
    const total = (slot: number) => st.serverStats.lookup(slot)!.reduce((a, c) => a + c.packets, 0n);
    t.is(total(1), 5n * BigInt(st.serverStats.cpus), 'a kept ID keeps its counts');
    t.is(total(0), 0n, 'the reused slot starts at zero');
    // many new IDs at once
    commit(Array.from({ length: 1000 }, (_, i) => server((0x1000 + i).toString(16))));
    t.is(st.readServers().length, 1000);
    t.is(total(1), 0n, 'the slot 0c0d had is zeroed for its new owner');
  } finally {
    st.close();
    fs.destroy();
  }
});
