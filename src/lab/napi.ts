// XDP_TX or a redirect into a veth is delivered only when the peer device runs NAPI, which an
// attached XDP program turns on: bpf/lab.bpf.c's pass program on each given port does that.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ObjectSpec, Link, type Collection } from '../bpf/index.js';
import { native } from '../bpf/native.js';
import type { Netns } from './netns.js';

const LAB_OBJ = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bpf/lab.bpf.o');

export class NapiPorts {
  readonly #coll: Collection;
  readonly #links: Link[] = [];

  /** Attaches the pass program (native mode) to each port, an interface of `ns`. */
  constructor(ns: Netns, ports: string[]) {
    this.#coll = ObjectSpec.open(LAB_OBJ).load();
    try {
      for (const port of ports) this.#links.push(ns.enter(() => Link.attachXdp(this.#coll.program('lab_napi_pass'), { ifindex: native().ifNameToIndex(port), mode: 'native' })));
    } catch (e) {
      this.close();
      throw e;
    }
  }

  close(): void {
    for (const l of this.#links) l.close();
    this.#coll.close();
  }
}
