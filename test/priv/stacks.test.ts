// Two independent QUIC stacks through quicsteer, end to end on the host kernel: Cloudflare quiche
// (npm @matrixai/quic) and quic-go (Debian 0.29), each server issuing QUIC-LB plaintext CIDs through
// its stack's own hook (quiche: the crypto sign() callback; quic-go: Config.ConnectionIDGenerator),
// each client talking to both servers. Mid-transfer the director (the NAT's neighbour entry) sends the
// client to another real server, and for quiche's servers the NAT rebinds the client's port at the
// same moment; quicsteer steers the flow back to the owner. Control for each: the same run with
// quicsteer detached does not complete. Every run's server-issued CIDs, captured between the NAT and
// the servers, go through `quicsteer cid decode`. The closing log line is the table of all runs.
import test from 'ava';
import { privilegedSerial } from '../helpers/env.js';
import { cli } from '../helpers/cli.js';
import { MigrationLab, type LabOptions } from '../../src/lab/migration.js';
import type { Stack } from '../../src/lab/peer.js';
import { assertWireCidsDecoded, checkStackEvent, type StackRow } from '../helpers/migration.js';

const OPTIONS: LabOptions = { director: 'neigh', uploadBytes: 8 << 20, downloadBytes: 20 << 20, rate: '50mbit', eventAfterMs: 1000, timeoutS: 120, captureCids: true };
// (timeoutS: quiche's client is CPU-bound here; in a full make test, beside the other host tests, a
// transfer took up to 34 s. The client's 5 s idle timeout still ends every stalled or failed run)
// quiche's stall after a rebinding (test/helpers/migration.ts checkStackEvent): repeats allowed per
// test. Measured while writing this: 7 of 13 runs with quicsteer stalled (2 of 5 with quiche's own
// client, 5 of 8 with quic-go's), so at about one in two, 10 repeats leave one test failing in 2,000.
const MAX_STALLS = 10;

type Server = Exclude<Stack, 'ngtcp2'>;
const CASES: { server: Server; client: Server; event: 'director-move' | 'nat-rebinding' }[] = [
  { server: 'quiche', client: 'quiche', event: 'director-move' },
  { server: 'quiche', client: 'quiche', event: 'nat-rebinding' },
  { server: 'quiche', client: 'quicgo', event: 'director-move' },
  { server: 'quiche', client: 'quicgo', event: 'nat-rebinding' },
  { server: 'quicgo', client: 'quicgo', event: 'director-move' },
  { server: 'quicgo', client: 'quiche', event: 'director-move' },
];

// one lab at a time (2 vCPUs), rebuilt when the server stack changes
let lab: MigrationLab | undefined;
const labFor = (server: Server, client: Server) => {
  if (lab && lab.stacks.server !== server) {
    lab.destroy();
    lab = undefined;
  }
  lab ??= new MigrationLab({ ...OPTIONS, stacks: { server, client } });
  lab.useClient(client);
  return lab;
};
const rows: StackRow[] = [];
test.after.always(() => lab?.destroy());

const decode = (spec: string) => (cid: string) => {
  const r = cli(['cid', 'decode', cid, '--cid', spec, '--json']);
  if (r.code !== 0) throw new Error(`quicsteer cid decode ${cid}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as { serverId: string | null; reason: string | null };
};

for (const c of CASES)
  privilegedSerial(`${c.client} client -> ${c.server} servers, ${c.event}: the transfer survives with quicsteer and fails without; the CIDs on the wire decode to the owner`, async (t) => {
    t.timeout(10 * 60_000);
    const l = labFor(c.server, c.client);
    const row = await checkStackEvent(t, l, c.event, c.event === 'nat-rebinding' ? MAX_STALLS : 0);
    assertWireCidsDecoded(t, l, row.on, decode(l.cid.spec));
    rows.push(row);
  });

privilegedSerial('the table of every stack run above (for the README and the closing note)', (t) => {
  t.is(rows.length, CASES.length, 'every case ran');
  const done = (r: StackRow['on']) => (r.downloadIdentical && r.uploadComplete ? 'complete' : 'failed');
  for (const r of rows)
    t.log(`| ${r.pair} | ${r.event} | ${done(r.on)}, ${(r.on.ms / 1000).toFixed(1)} s, ${Object.values(r.on.steered).reduce((a, b) => a + b, 0)} steered${r.stalls ? `, ${r.stalls} stall(s) repeated` : ''} | ${done(r.off)} (${(r.off.ms / 1000).toFixed(1)} s) |`);
});
