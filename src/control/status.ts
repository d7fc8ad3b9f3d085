// Read-only views for status and the list commands: no program load, only the pinned maps.
import { PinnedState, type ServerView, type VipView } from './state.js';
import { sidLengths } from './spec.js';

export function readOnly<T>(pin: string, fn: (st: PinnedState) => T, empty: T): T {
  const st = PinnedState.open(pin);
  if (!st) return empty;
  try {
    return fn(st);
  } finally {
    st.close();
  }
}

/** What looks wrong in a configuration (for status): one line each. */
export function consistency(s: { localId: string | null; vips: VipView[]; servers: ServerView[]; links: { ifname: string | null; ifindex: number }[] }): string[] {
  const out: string[] = [];
  const lens = new Set(s.vips.flatMap((v) => sidLengths(v.specs)));
  if (s.links.length > 0 && s.localId === null) out.push('no local server ID: nothing is delivered as local');
  if (s.localId !== null && !s.servers.some((x) => x.id === s.localId)) out.push(`local ID ${s.localId} is not in the server table (add it so every server's table is the same)`);
  if (s.localId !== null && lens.size > 0 && !lens.has(s.localId.length / 2)) out.push(`local ID ${s.localId} has a length no VIP layout carries`);
  for (const v of s.vips) if (v.specs.length === 0) out.push(`VIP ${v.address} has no CID layout: its packets are never steered`);
  for (const x of s.servers) {
    if (lens.size > 0 && !lens.has(x.id.length / 2)) out.push(`server ${x.id} has a length no VIP layout carries`);
    if (x.ifindex !== 0 && x.dev === null) out.push(`server ${x.id}: egress interface ${x.ifindex} is gone`);
  }
  for (const l of s.links) if (l.ifname === null) out.push(`link on interface ${l.ifindex} is defunct (interface gone): quicsteer detach ${l.ifindex}`);
  if (s.links.length > 0 && s.vips.length === 0) out.push('attached, but no VIPs: nothing is steered');
  if (s.links.length === 0 && (s.vips.length > 0 || s.servers.length > 0)) out.push('configured but not attached to any interface');
  return out;
}

