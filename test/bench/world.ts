// make bench's data path as a user's would be: `quicsteer apply` (the CLI, a process of its own)
// writes the tables on a private bpffs, and every build under test (the shipped program, the cost
// breakdown's stopped builds) is loaded on those pins. Rows run through a restoring harness
// (bpf/bench/harness.bpf.c) so every repetition sees the row's frame, not the previous output.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectSpec, type Collection, type PerCpuMap, type Program } from '../../src/bpf/index.js';
import { u32, u64, whole } from '../../src/bpf/codec.js';
import { Counter, GQUIC_REASON_SLOTS, GquicForms, Reasons, type CounterT, type GquicFormName, type ReasonName } from '../../src/bpf/layout.js';
import { native } from '../../src/bpf/native.js';
import { PinnedState } from '../../src/control/state.js';
import { withWriteLock } from '../../src/control/lock.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { MAC_SELF } from '../helpers/frames.js';
import { ROOT } from '../helpers/paths.js';
import { MAC_RS2, MAC_RS3, MAC_RS4, LOCAL_SID, PORT_GQUIC_LB, PORT_MSQUIC, PORT_MVFST, PORT_QUIC_LB, VIP4, VIP6 } from '../helpers/world.js';
import type { Netns } from '../helpers/netns.js';

export const OBJECTS = {
  shipped: path.join(ROOT, 'build/bpf/quicsteer.bpf.o'),
  /** the shipped program without the decrypt-once cache (-DQS_LB_NO_CACHE): every encrypted CID takes AES */
  nocache: path.join(ROOT, 'build/bpf/quicsteer_nocache.bpf.o'),
  /** the same two with the kfunc AES (the kernel's ecb(aes); Linux >= 6.10) */
  kfunc: path.join(ROOT, 'build/bpf/quicsteer_kfunc.bpf.o'),
  kfuncNocache: path.join(ROOT, 'build/bpf/quicsteer_kfunc_nocache.bpf.o'),
  floors: path.join(ROOT, 'build/bpf/floors.bpf.o'),
  harness: path.join(ROOT, 'build/bpf/harness.bpf.o'),
  stop: (n: number) => path.join(ROOT, `build/bpf/quicsteer_stop${n}.bpf.o`),
};
export const CLI = path.join(ROOT, 'scripts/quicsteer.mjs');

const mac = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** The bench's encrypted QUIC-LB VIP (its own port) and key, written next to the apply file as lb.key. */
export const PORT_ENC = 4444;
export const BENCH_KEY = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
/** Its configs by codepoint: the single pass (16 octets), 3 AES passes (17), 4 AES passes (sid 5 > nonce 4). */
export const ENC_BENCH = [
  { cr: 0, sidLen: 2, nonceLen: 14, sid: '0c0d', passes: 1 },
  { cr: 1, sidLen: 2, nonceLen: 15, sid: '0c0d', passes: 3 },
  { cr: 2, sidLen: 5, nonceLen: 4, sid: '0c0d0e0f10', passes: 4 },
] as const;

/**
 * The apply file of the bench: the fixtures' VIPs and owners (every CID layout a row measures), this
 * server's own entry among the servers, so the peer set holds this server's MAC as in a real fleet
 * (a steered frame's new source MAC: run again unrestored, it would hit the loop guard).
 */
export function benchConfig(extraServers: { id: string; mac: string }[] = []) {
  const quicLb = ['quic-lb:sid=2,nonce=6', 'quic-lb:sid=3,nonce=4,cr=1'];
  return {
    localId: LOCAL_SID,
    vips: [
      { address: `${VIP4}:${PORT_QUIC_LB}`, cid: quicLb },
      { address: `[${VIP6}]:${PORT_QUIC_LB}`, cid: quicLb },
      { address: `${VIP4}:${PORT_MSQUIC}`, cid: 'msquic' },
      { address: `${VIP4}:${PORT_MVFST}`, cid: 'mvfst' },
      { address: `${VIP4}:${PORT_ENC}`, cid: ENC_BENCH.map((c) => `quic-lb:sid=${c.sidLen},nonce=${c.nonceLen},cr=${c.cr},key-file=lb.key`) },
      // gQUIC beside QUIC-LB: publish() writes the Maglev table of the servers below (all up)
      { address: `${VIP4}:${PORT_GQUIC_LB}`, cid: [quicLb[0], 'gquic'] },
    ],
    servers: [
      { id: LOCAL_SID, mac: mac(MAC_SELF) },
      { id: '0c0d', mac: mac(MAC_RS2) },
      { id: '0a0b0c', mac: mac(MAC_RS3) },
      { id: 'c0000202', mac: mac(MAC_RS2) },
      { id: '1234', mac: mac(MAC_RS3) },
      { id: '12345678', mac: mac(MAC_RS3) },
      { id: '2021', mac: mac(MAC_RS4), dev: 'veth0' },
      { id: '0c0d0e0f10', mac: mac(MAC_RS2) },
      ...extraServers,
    ],
  };
}

/** Runs the CLI in the namespace; throws with its stderr when it fails. Returns wall time in ms. */
export function cli(ns: Netns, pin: string, ...args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, CLI, '--pin-path', pin, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench: quicsteer ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** A second counter a sample checks: it moves by one per run, or not at all. */
export interface AlsoCounted {
  what: string;
  read: () => bigint;
  by: 'runs' | 'none';
}

const sumPackets = (cs: CounterT[]) => cs.reduce((a, c) => a + c.packets, 0n);

/** The applied state, the builds loaded on its pins, and the restoring harness. */
export class BenchWorld {
  readonly fs = new TempBpffs();
  readonly pin = this.fs.path('qs');
  readonly tmp = mkdtempSync(path.join(os.tmpdir(), 'qs-bn-cfg-'));
  readonly open: Collection[] = [];
  readonly harness: Collection;
  readonly floors: Collection;
  readonly stats: PerCpuMap<number, CounterT>;
  /** encrypted CIDs that took AES (qs_lb_decrypts): a cache hit moves it by 0, an uncached build by 1 per run */
  readonly decrypts: PerCpuMap<number, bigint>;
  readonly gquicStats: PerCpuMap<number, CounterT>;

  constructor(
    readonly ns: Netns,
    config: object,
  ) {
    try {
      const file = path.join(this.tmp, 'config.json');
      writeFileSync(file, JSON.stringify(config));
      writeFileSync(path.join(this.tmp, 'lb.key'), BENCH_KEY.toString('hex'), { mode: 0o600 });
      cli(ns, this.pin, 'apply', '-f', file);
      this.harness = this.track(ObjectSpec.open(OBJECTS.harness).load());
      this.floors = this.track(ObjectSpec.open(OBJECTS.floors).load());
      const shipped = this.build(OBJECTS.shipped);
      this.stats = shipped.perCpuMap('qs_stats', whole(u32), Counter);
      this.decrypts = shipped.perCpuMap('qs_lb_decrypts', whole(u32), whole(u64));
      this.gquicStats = shipped.perCpuMap('qs_gquic_stats', whole(u32), Counter);
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  private track(c: Collection): Collection {
    this.open.push(c);
    return c;
  }

  /**
   * The kfunc implementation on the applied pins: its build loaded there (its contexts map pinned with
   * the rest), then the configuration published once more by a writer, which makes the contexts.
   */
  kfuncBuild(): Collection {
    const c = this.build(OBJECTS.kfunc);
    // egress MACs are resolved in the namespace the configuration names
    this.ns.enter(() =>
      withWriteLock(this.pin, () => {
        const st = PinnedState.openForWrite(this.pin)!;
        try {
          st.commit(st.wanted());
        } finally {
          st.close();
        }
      }),
    );
    return c;
  }

  /** A build of the program loaded on the applied maps (same map definitions: the pins are reused). */
  build(obj: string): Collection {
    return this.track(ObjectSpec.open(obj, { pinRootPath: this.pin }).load());
  }

  /** Packets counted under a reason, summed over CPUs. */
  reasonPackets(r: ReasonName): bigint {
    return sumPackets(this.stats.lookup(Reasons.indexOf(r))!);
  }

  /** Packets counted in qs_gquic_stats for a form and reason, summed over CPUs. */
  gquicPackets(form: GquicFormName, reason: ReasonName): bigint {
    return sumPackets(this.gquicStats.lookup(GquicForms.indexOf(form) * GQUIC_REASON_SLOTS + Reasons.indexOf(reason))!);
  }

  /** Every packet qs_gquic_stats counted, under any form and reason. */
  gquicTotal(): bigint {
    return GquicForms.reduce((a, f) => Reasons.reduce((b, r) => b + this.gquicPackets(f, r), a), 0n);
  }

  /** Makes the harness restore `frame`'s MACs and then run `prog`. */
  arm(prog: Program, frame: Buffer): void {
    const n = native();
    const key = whole(u32).encode(0);
    const eth = Buffer.alloc(16);
    frame.copy(eth, 0, 0, 12);
    n.mapUpdate(this.harness.maps.get('bench_eth')!.fd, key, eth, n.constants.BPF_ANY);
    n.mapUpdate(this.harness.maps.get('bench_progs')!.fd, key, whole(u32).encode(prog.fd), n.constants.BPF_ANY);
  }

  /**
   * One sample: `repeat` runs of `prog` on `frame` through the harness (in the namespace, arriving on
   * lo). Refuses a sample whose verdict is not `expect`, or, given a reason, one that did not count
   * every run under it (its packets took another path than the row names), or one whose `also`
   * counter did not move by its count (every run, or none). Returns ns per run.
   */
  sample(
    figure: string,
    prog: Program,
    frame: Buffer,
    repeat: number,
    expect: number,
    reason?: ReasonName,
    counted = (r: ReasonName) => this.reasonPackets(r),
    decrypted?: 'none' | 'each',
    also?: AlsoCounted,
  ): number {
    this.arm(prog, frame);
    const before = reason ? counted(reason) : 0n;
    const dBefore = this.decrypted();
    const aBefore = also?.read() ?? 0n;
    const r = this.ns.enter(() => this.restore.testRun({ data: frame, repeat, ingressIfindex: 1 }));
    if (r.retval !== expect) throw new Error(`bench: ${figure}: the program returned ${r.retval}, the row measures ${expect}`);
    const moved = reason ? counted(reason) - before : BigInt(repeat);
    if (moved !== BigInt(repeat)) throw new Error(`bench: ${figure}: ${repeat} runs moved ${reason} by ${moved}`);
    const aMoved = also ? also.read() - aBefore : 0n;
    if (also && aMoved !== (also.by === 'runs' ? BigInt(repeat) : 0n)) throw new Error(`bench: ${figure}: ${repeat} runs moved ${also.what} by ${aMoved}`);
    // encrypted rows: every run served by the cache, or every run decrypted. The cache is per CPU and
    // a sample may run on a CPU that has not seen the frame yet: its first run decrypts (one at most)
    const d = this.decrypted() - dBefore;
    if (decrypted !== undefined && (decrypted === 'none' ? d > 1n : d !== BigInt(repeat)))
      throw new Error(`bench: ${figure}: ${repeat} runs decrypted ${d} CIDs, the row measures ${decrypted === 'none' ? 'cache hits' : 'one decryption per run'}`);
    return r.durationNs;
  }

  /** Encrypted CIDs decrypted so far, summed over CPUs. */
  decrypted(): bigint {
    return this.decrypts.lookup(0)!.reduce((a, n) => a + n, 0n);
  }

  get restore(): Program {
    return this.harness.program('bench_restore');
  }

  destroy(): void {
    for (const c of this.open.splice(0)) c.close();
    this.fs.destroy();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
