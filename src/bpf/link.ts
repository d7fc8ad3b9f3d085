// A bpf_link: XDP attachment that lives as long as its fd or its pin, swappable without a gap.
import { FdHandle } from './fd.js';
import { native, type LinkInfo } from './native.js';
import type { Program } from './program.js';

/** native = driver mode (XDP_FLAGS_DRV_MODE), generic = skb mode (XDP_FLAGS_SKB_MODE). */
export type XdpMode = 'native' | 'generic';

export interface XdpAttachOptions {
  ifindex: number;
  mode: XdpMode;
  /** Extra XDP_FLAGS_* bits, or'ed with the mode's flag. */
  flags?: number;
}

export class Link {
  readonly #h: FdHandle;

  /** Takes ownership of fd. */
  constructor(fd: number) {
    this.#h = new FdHandle(fd, 'link');
  }

  static attachXdp(prog: Program, opts: XdpAttachOptions): Link {
    const c = native().constants;
    const modeFlag = opts.mode === 'native' ? c.XDP_FLAGS_DRV_MODE : c.XDP_FLAGS_SKB_MODE;
    return new Link(native().linkCreate(prog.fd, opts.ifindex, c.BPF_XDP, modeFlag | (opts.flags ?? 0)));
  }

  static openPinned(path: string): Link {
    return new Link(native().objGet(path));
  }

  static fromId(id: number): Link {
    return new Link(native().getFdById('link', id));
  }

  get fd(): number {
    return this.#h.fd;
  }

  get closed(): boolean {
    return this.#h.closed;
  }

  info(): LinkInfo {
    return native().linkInfo(this.fd);
  }

  /** Pins the link: the attachment then outlives this process. */
  pin(path: string): void {
    native().objPin(this.fd, path);
  }

  /** Atomically swaps the program; with expected, only if that program is still the one attached. */
  update(prog: Program, expected?: Program): void {
    native().linkUpdate(this.fd, prog.fd, expected ? { oldProgFd: expected.fd } : {});
  }

  /** Detaches the program now (the link fd stays valid but defunct until closed). */
  detach(): void {
    native().linkDetach(this.fd);
  }

  close(): void {
    this.#h.close();
  }
}
