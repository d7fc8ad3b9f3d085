// An owned file descriptor: closed exactly once (by close() or, if forgotten, at GC); use after close throws.
import { native } from './native.js';

/** Thrown when a Program, Map, Link or object is used after close(). */
export class ClosedError extends Error {
  readonly code = 'ERR_BPF_CLOSED';
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = 'ClosedError';
  }
}

// A leaked handle still gives its fd back to the kernel when collected.
const finalizer = new FinalizationRegistry<number>((fd) => {
  try {
    native().close(fd);
  } catch {
    // the fd may already be gone with the process' teardown; nothing to report to
  }
});

export class FdHandle {
  #fd: number | null;
  readonly #what: string;

  constructor(fd: number, what: string) {
    this.#fd = fd;
    this.#what = what;
    finalizer.register(this, fd, this);
  }

  get fd(): number {
    if (this.#fd === null) throw new ClosedError(this.#what);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd === null;
  }

  close(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    finalizer.unregister(this);
    native().close(fd);
  }
}
