// The two ways a command fails: bad usage (exit 2) and a runtime failure (exit 1), each one clear line.

/** The user asked for something malformed or impossible: exit 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The request was fine but the system refused or failed: exit 1. */
export class RuntimeError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

export function requireRoot(what: string): void {
  if (process.geteuid?.() !== 0) throw new RuntimeError(`${what} needs root (CAP_BPF and CAP_NET_ADMIN): run it with sudo`);
}
