// A second installation of quicsteer, as an upgrade puts one on a server: this checkout's CLI and addon
// copied to a temp dir, with another build of the program as its build/bpf/quicsteer.bpf.o.
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { sh } from './netns.js';
import { tempDir } from './tmp.js';
import { BPF_OBJ, ROOT } from './paths.js';
import { SHIM } from './cli.js';

export interface Installation {
  /** its checkout-shaped root */
  root: string;
  /** its scripts/quicsteer.mjs (for cli()'s shim) */
  shim: string;
  /** the program build it attaches */
  object: string;
}

/** This checkout, as an installation. */
export const CHECKOUT: Installation = { root: ROOT, shim: SHIM, object: BPF_OBJ };

/**
 * A copy, not links: the CLI finds its addon and its BPF objects from its own real path (build/dist
 * and build/bpf beside each other), and Node resolves symlinks to it. node_modules is shared.
 */
export function installation(name: string, object: string): Installation {
  const root = path.join(tempDir(`qs-inst-${name}`), 'quicsteer');
  mkdirSync(path.join(root, 'build'), { recursive: true });
  mkdirSync(path.join(root, 'scripts'));
  for (const d of ['dist', 'Release', 'bpf']) sh('cp', '-a', path.join(ROOT, 'build', d), path.join(root, 'build', d));
  copyFileSync(object, path.join(root, 'build/bpf/quicsteer.bpf.o'));
  copyFileSync(path.join(ROOT, 'scripts/quicsteer.mjs'), path.join(root, 'scripts/quicsteer.mjs'));
  copyFileSync(path.join(ROOT, 'package.json'), path.join(root, 'package.json'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  return { root, shim: path.join(root, 'scripts/quicsteer.mjs'), object };
}
