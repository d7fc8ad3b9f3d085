// The kfunc AES implementation's user-space half: whether the kernel has the BPF crypto kfuncs, and
// each key slot's context (qs_crypto) set or cleared through the object's syscall program.
import { readFileSync } from 'node:fs';
import { native, isNativeError } from '../bpf/native.js';
import { kernelHasFuncs } from '../bpf/btf.js';
import { CryptoArgs, CryptoOp, LB_KEY_LEN, MAX_KEYS } from '../bpf/layout.js';
import type { KeyContexts } from './install.js';

/** The kfunc object's contexts map, its per-CPU block buffer, and its syscall program (bpf/aes_kfunc.h). */
export const CRYPTO_MAP = 'qs_crypto';
export const CRYPTO_SCRATCH_MAP = 'qs_aes_buf';
export const CRYPTO_PROGRAM = 'qs_crypto_set';
/** The cipher the contexts are made for. */
export const CIPHER = 'ecb(aes)';

/** The kfuncs the object calls (Linux >= 6.10; create/release from syscall programs, encrypt/decrypt from XDP). */
export const CRYPTO_KFUNCS = ['bpf_crypto_ctx_create', 'bpf_crypto_ctx_release', 'bpf_crypto_encrypt', 'bpf_crypto_decrypt'];

/** What the kernel offers the kfunc implementation. */
export interface KernelCrypto {
  /** the BPF crypto kfuncs are there */
  kfuncs: boolean;
  /** the driver behind "ecb(aes)" in /proc/crypto (null: not instantiated yet, or no /proc/crypto) */
  driver: string | null;
}

/** Whether the kernel has the kfuncs: its BTF names them (what libbpf resolves them by); /proc/kallsyms when the BTF is unreadable. */
export function kernelHasCryptoKfuncs(): boolean {
  try {
    return kernelHasFuncs(CRYPTO_KFUNCS);
  } catch {
    try {
      const syms = new Set(readFileSync('/proc/kallsyms', 'utf8').split('\n').map((l) => l.split(' ')[2]));
      return CRYPTO_KFUNCS.every((f) => syms.has(f));
    } catch {
      return false;
    }
  }
}

/** The driver of the highest-priority "ecb(aes)" in a /proc/crypto text (entries are blank-line separated). */
export function cipherDriver(procCrypto: string, name = CIPHER): string | null {
  let best: { driver: string; priority: number } | null = null;
  for (const block of procCrypto.split(/\n\s*\n/)) {
    const f = Object.fromEntries(block.split('\n').map((l) => l.split(/\s*:\s*/, 2).map((x) => x.trim()) as [string, string]));
    if (f.name !== name || !f.driver) continue;
    const priority = Number(f.priority ?? 0);
    if (!best || priority > best.priority) best = { driver: f.driver, priority };
  }
  return best?.driver ?? null;
}

export function kernelCrypto(): KernelCrypto {
  const kfuncs = kernelHasCryptoKfuncs();
  let driver: string | null = null;
  try {
    driver = cipherDriver(readFileSync('/proc/crypto', 'utf8'));
  } catch {
    // no /proc/crypto: the driver stays unknown
  }
  return { kfuncs, driver };
}

/** A context could not be set: the kernel's errno, never the key. */
export class CryptoContextError extends Error {
  readonly errno: number;
  constructor(index: number, errno: number, what: string) {
    const why: Record<number, string> = {
      2: `no "skcipher" crypto type or no ${CIPHER} in this kernel`,
      12: 'out of memory',
      22: 'invalid argument',
      34: `slot index out of range (the map holds ${2 * MAX_KEYS})`,
      95: `${CIPHER} is not available as an skcipher here`,
    };
    super(`cannot ${what} the AES context at index ${index}: errno ${errno}${why[errno] ? ` (${why[errno]})` : ''}`);
    this.name = 'CryptoContextError';
    this.errno = errno;
  }
}

const ERR_AT = CryptoArgs.fields.find((f) => f.name === 'err')!.offset;

/**
 * Sets (key given) or clears (null) the context at qs_crypto[index] by one run of the syscall
 * program. The argument buffer holds the key only for the run: the program zeroes the kernel's
 * copy, which is copied back over it, and it is zeroed here again whatever happened.
 */
export function setContext(progFd: number, index: number, key: Buffer | null): void {
  if (key && key.length !== LB_KEY_LEN) throw new RangeError(`an AES-128 key is ${LB_KEY_LEN} bytes`);
  const args = CryptoArgs.encode({ index, op: key ? CryptoOp.SET : CryptoOp.CLEAR, key: key ?? Buffer.alloc(LB_KEY_LEN), err: 0 });
  try {
    // a syscall program's test run takes no data and no ctx_out: the kernel writes the ctx back in place
    const r = native().progTestRun(progFd, { ctxIn: args, dataSizeOut: 0, ctxSizeOut: 0 });
    const err = args.readInt32LE(ERR_AT);
    if (r.retval !== 0 || err !== 0) throw new CryptoContextError(index, -err || r.retval, key ? 'set' : 'clear');
  } catch (e) {
    if (isNativeError(e)) throw new CryptoContextError(index, e.errno, key ? 'set' : 'clear');
    throw e;
  } finally {
    args.fill(0);
  }
}

/**
 * publish()'s hook for the kfunc implementation: generation `gen`'s slots in use get a context made
 * from their key, every other slot of it is cleared (a slot whose key went holds no stale context).
 */
export function keyContexts(progFd: number): KeyContexts {
  return (gen, keys) => {
    if (keys.length > MAX_KEYS) throw new RangeError(`more than ${MAX_KEYS} keys`);
    for (let slot = 0; slot < MAX_KEYS; slot++) setContext(progFd, gen * MAX_KEYS + slot, keys[slot] ?? null);
  };
}
