// Which AES implementation attach loads (--aes auto|table|kfunc), and the kfunc object's own pins:
// its contexts map and scratch buffer (pinned by name like every map) and its syscall program.
import { existsSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectSpec, Program } from '../bpf/index.js';
import { CRYPTO_MAP, CRYPTO_PROGRAM, CRYPTO_SCRATCH_MAP, kernelCrypto, type KernelCrypto } from '../datapath/crypto.js';
import { RuntimeError } from './errors.js';
import { BPF_KFUNC_OBJECT, BPF_OBJECT } from './paths.js';

export type AesChoice = 'auto' | 'table' | 'kfunc';
export type AesImpl = 'table' | 'kfunc';

/** Where the syscall program that sets the contexts is pinned, under the pin path. */
export const CRYPTO_PROGRAM_PIN = 'crypto-set';
/** Every pin only the kfunc implementation makes (quicsteer's, removed with the state). */
export const KFUNC_PINS = [CRYPTO_MAP, CRYPTO_SCRATCH_MAP, CRYPTO_PROGRAM_PIN] as const;

/**
 * The implementation for a choice. auto is the table one on every kernel: measured faster on the
 * CI host (about 60 ns a block, against 125 ns to encrypt and 180 ns to decrypt through the kfuncs
 * with the kernel's generic "aes-fixed-time": no AES-NI driver there). kfunc on a kernel without
 * the kfuncs is refused before anything changes; `probe` is injectable so that refusal can be
 * tested on a kernel that has them.
 */
export function resolveAes(choice: AesChoice, probe: () => KernelCrypto = kernelCrypto): AesImpl {
  if (choice !== 'kfunc') return 'table';
  if (!probe().kfuncs)
    throw new RuntimeError(`--aes kfunc: this kernel (${os.release()}) has no BPF crypto kfuncs (bpf_crypto_decrypt needs Linux >= 6.10): use --aes table, or auto`);
  return 'kfunc';
}

export function objectFor(aes: AesImpl): string {
  return aes === 'kfunc' ? BPF_KFUNC_OBJECT : BPF_OBJECT;
}

/** Pins the loaded syscall program at crypto-set, replacing one an earlier build pinned (its argument layout may differ). */
export function pinCryptoProgram(pin: string, prog: Program): void {
  const at = path.join(pin, CRYPTO_PROGRAM_PIN);
  if (existsSync(at)) unlinkSync(at);
  prog.pin(at);
}

/**
 * The pinned syscall program. A writer killed between the maps' pins and the program's leaves
 * the map without it: the kfunc object is loaded again (reusing every pinned map) to pin it.
 */
export function openCryptoProgram(pin: string): Program {
  const at = path.join(pin, CRYPTO_PROGRAM_PIN);
  if (!existsSync(at)) {
    const coll = ObjectSpec.open(BPF_KFUNC_OBJECT, { pinRootPath: pin }).load();
    try {
      pinCryptoProgram(pin, coll.program(CRYPTO_PROGRAM));
    } finally {
      coll.close();
    }
  }
  return Program.openPinned(at);
}

/** Removes the kfunc implementation's pins; returns which went. */
export function removeKfuncPins(pin: string): string[] {
  const gone: string[] = [];
  for (const n of KFUNC_PINS) {
    const at = path.join(pin, n);
    if (!existsSync(at)) continue;
    unlinkSync(at);
    gone.push(n);
  }
  return gone;
}
