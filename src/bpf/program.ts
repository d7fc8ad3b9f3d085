// A loaded BPF program: owns its fd; runs BPF_PROG_TEST_RUN.
import { FdHandle } from './fd.js';
import { native, type ProgInfo } from './native.js';
import { XdpMd } from './layout.js';

export interface TestRunOptions {
  /** Packet given to the program. */
  data: Buffer;
  /** Runs of the program (duration is the mean per run). */
  repeat?: number;
  /** XDP: send the program's XDP_TX/XDP_REDIRECT frames for real out of ingressIfindex. */
  liveFrames?: boolean;
  /** XDP ctx: the interface the packet "arrived" on (needed for live frames). */
  ingressIfindex?: number;
  /** Frames per batch in live-frames mode (kernel default 64). */
  batchSize?: number;
  /** Room for the output packet (default: input + 4096, enough for any head/tail growth). */
  dataSizeOut?: number;
}

export interface TestRunResult {
  retval: number;
  /** Mean ns per run as the kernel measured it. */
  durationNs: number;
  data: Buffer;
}

/** XDP verdicts (enum xdp_action). */
export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;

export class Program {
  readonly #h: FdHandle;
  readonly name: string;

  /** Takes ownership of fd. */
  constructor(fd: number, name: string) {
    this.#h = new FdHandle(fd, `program ${name}`);
    this.name = name;
  }

  /** A program by its kernel id (e.g. the one an XDP link runs). */
  static fromId(id: number): Program {
    const fd = native().getFdById('prog', id);
    return new Program(fd, native().progInfo(fd).name);
  }

  static openPinned(path: string): Program {
    const fd = native().objGet(path);
    try {
      return new Program(fd, native().progInfo(fd).name);
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  get fd(): number {
    return this.#h.fd;
  }

  get closed(): boolean {
    return this.#h.closed;
  }

  info(): ProgInfo {
    return native().progInfo(this.fd);
  }

  pin(path: string): void {
    native().objPin(this.fd, path);
  }

  testRun(opts: TestRunOptions): TestRunResult {
    const c = native().constants;
    let flags = 0;
    let ctxIn: Buffer | undefined;
    if (opts.liveFrames) flags |= c.BPF_F_TEST_XDP_LIVE_FRAMES;
    if (opts.ingressIfindex !== undefined) {
      ctxIn = XdpMd.encode({
        data: 0,
        data_end: opts.data.length,
        data_meta: 0,
        ingress_ifindex: opts.ingressIfindex,
        rx_queue_index: 0,
        egress_ifindex: 0,
      });
    }
    const r = native().progTestRun(this.fd, {
      dataIn: opts.data,
      repeat: opts.repeat,
      flags,
      ctxIn,
      batchSize: opts.batchSize,
      // live frames go out on the wire: the kernel refuses output buffers then
      dataSizeOut: opts.liveFrames ? 0 : opts.dataSizeOut,
      ctxSizeOut: opts.liveFrames ? 0 : undefined,
    });
    return { retval: r.retval, durationNs: r.duration, data: r.dataOut };
  }

  close(): void {
    this.#h.close();
  }
}
