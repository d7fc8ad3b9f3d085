// The two ways a command fails: bad usage (exit 2) and a runtime failure (exit 1), each one clear line
// with a stable kind (the `code` of a --json error); and the capability check commands make first.
import { readFileSync } from 'node:fs';

/** The user asked for something malformed or impossible: exit 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  /** stable, for --json: 'usage' or 'bad-file' */
  readonly kind: string;
  constructor(message: string, kind = 'usage') {
    super(message);
    this.name = 'UsageError';
    this.kind = kind;
  }
}

/** The request was fine but the system refused or failed: exit 1. */
export class RuntimeError extends Error {
  readonly exitCode = 1;
  /** stable, for --json: 'failed', 'file', 'capabilities', 'state-gone', ... (README, "Every command takes --json") */
  readonly kind: string;
  constructor(message: string, kind = 'failed') {
    super(message);
    this.name = 'RuntimeError';
    this.kind = kind;
  }
}

// Capability numbers (linux/capability.h).
export const CAP_NET_ADMIN = 12;
export const CAP_SYS_ADMIN = 21;
export const CAP_BPF = 39;

/** The effective capability set of this process (CapEff of /proc/self/status). */
export function effectiveCaps(status = readFileSync('/proc/self/status', 'utf8')): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export interface CapNeeds {
  /** the command may mount a bpffs (CAP_SYS_ADMIN) */
  mount?: boolean;
  /** the command touches BPF objects (CAP_BPF, or CAP_SYS_ADMIN on kernels before 5.8); default true */
  bpf?: boolean;
}

/** The capabilities a command lacks, by name (empty: it may run). */
export function missingCaps(needs: CapNeeds = {}, eff = effectiveCaps()): string[] {
  const has = (c: number) => ((eff >> BigInt(c)) & 1n) === 1n;
  const missing: string[] = [];
  // CAP_SYS_ADMIN stands in for CAP_BPF (kernels before 5.8 know only it)
  if (needs.bpf !== false && !has(CAP_BPF) && !has(CAP_SYS_ADMIN)) missing.push('CAP_BPF');
  if (!has(CAP_NET_ADMIN)) missing.push('CAP_NET_ADMIN');
  if (needs.mount && !has(CAP_SYS_ADMIN)) missing.push('CAP_SYS_ADMIN');
  return missing;
}

/** Refuses to go on without the capabilities `what` needs: one line naming the missing ones, exit 1. */
export function requireCaps(what: string, needs: CapNeeds = {}): void {
  const missing = missingCaps(needs);
  if (!missing.length) return;
  const all = [...(needs.bpf !== false ? ['CAP_BPF'] : []), 'CAP_NET_ADMIN', ...(needs.mount ? ['CAP_SYS_ADMIN'] : [])];
  const and = (xs: string[]) => xs.join(', ').replace(/, ([^,]*)$/, ' and $1');
  throw new RuntimeError(`${what} needs ${and(all)} (missing ${and(missing)}): run it as root (sudo) or with those capabilities`, 'capabilities');
}

/** The old name: every capability a command may need, mounting included. */
export function requireRoot(what: string): void {
  requireCaps(what, { mount: true });
}

/** A Node fs error as `ENOENT (no such file or directory)`, without the path Node repeats. */
export function fsErrorLine(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (!err?.code) return String((e as Error)?.message ?? e);
  const why = /^[A-Z0-9_]+: ([^,]+)/.exec(err.message)?.[1];
  return why ? `${err.code} (${why})` : err.code;
}
