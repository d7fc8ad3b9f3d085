// quicsteer demo: the migration lab on this kernel, one event with quicsteer and the same event
// without it, told in plain words with the counters; everything it creates is removed at the end, on
// SIGINT/SIGTERM/SIGHUP too, and what an earlier run killed outright left is swept first.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { RuntimeError } from '../control/errors.js';
import { describeSweep, sweep, type SweepReport } from './owner.js';
import { MigrationLab, EVENTS, MOVE_EVENTS, DIRECTOR_EVENTS, SERVERS, VIP, PORT, CLIENT_IP, NAT_PUBLIC, type LabEvent, type RunResult } from './migration.js';

export interface DemoOptions {
  event: LabEvent;
  uploadMiB: number;
  downloadMiB: number;
  /** progress lines as the demo goes (the plain-words output); JSON mode passes none */
  say?: (line: string) => void;
}

export interface DemoResult {
  /** what earlier runs (killed before their cleanup) left, removed before this one started */
  swept: SweepReport;
  event: LabEvent;
  withSteering: RunResult;
  withoutSteering: RunResult;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const TOOLS = ['gtlsserver', 'gtlsclient', 'openssl', 'nft', 'conntrack', 'tc', 'ethtool', 'ip'];

const sid = (name: string) => SERVERS.find((s) => s.name === name)!.sid;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const complete = (r: RunResult) => r.downloadIdentical && r.uploadComplete;

export async function demo(o: DemoOptions): Promise<DemoResult> {
  const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length) throw new RuntimeError(`demo needs ${missing.join(', ')}: run the setup (sudo ./scripts/setup.sh)`);
  const say = o.say ?? (() => {});
  say(`quicsteer demo: a real QUIC connection whose client address changes mid-transfer (${o.event})`);
  say(`  client ${CLIENT_IP} -> NAT (public ${NAT_PUBLIC}) -> director -> ${SERVERS.map((s) => `${s.name} ${s.ip}`).join(', ')}`);
  say(`  each real server: VIP ${VIP} on lo, gtlsserver on ${VIP}:${PORT} issuing CIDs that carry its server ID, quicsteer on eth0`);
  say(`  the director is simulated (this kernel has no IPVS): the NAT sends the VIP to the MAC of the server it picks`);
  const swept = sweep();
  say(`  ${describeSweep(swept)}`);
  let lab: MigrationLab | undefined;
  let stopping = false;
  // a signal: clean up, then exit 128 + its number; a second signal while cleaning up is ignored
  const stop = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    try {
      // after a hangup the terminal may be gone: the cleanup matters, the message does not
      process.stderr.write(`quicsteer demo: ${sig}, cleaning up\n`);
    } catch {
      /* no terminal */
    }
    try {
      lab?.destroy();
    } finally {
      // the lab modules' exit handlers remove whatever destroy() could not
      process.exit(128 + (os.constants.signals[sig] ?? 0));
    }
  };
  for (const sig of SIGNALS) process.on(sig, stop);
  try {
    lab = new MigrationLab({ director: 'neigh', uploadBytes: o.uploadMiB << 20, downloadBytes: o.downloadMiB << 20, rate: '50mbit', eventAfterMs: 1000, timeoutS: 40 });
    say('');
    say(`1. with quicsteer attached on every real server`);
    lab.steering(true);
    const on = await lab.run(o.event, true);
    tell(say, on);
    say('');
    say(`2. the same, with quicsteer detached from every real server`);
    lab.steering(false);
    const off = await lab.run(o.event, false);
    tell(say, off);
    say('');
    say(complete(on) && !complete(off) ? 'quicsteer kept the connection alive; without it, the same change broke it.' : 'unexpected: see the results above.');
    return { swept, event: o.event, withSteering: on, withoutSteering: off };
  } finally {
    // a signal during destroy() is handled after it (destroy is synchronous), then exits non-zero
    lab?.destroy();
    for (const sig of SIGNALS) process.off(sig, stop);
    say('cleaned up: namespaces, pins and files removed');
  }
}

function tell(say: (l: string) => void, r: RunResult): void {
  say(`   the client (public ${r.publicBefore}) started uploading ${r.uploadBytes >> 20} MiB and downloading ${r.downloadBytes >> 20} MiB; the director sent it to ${r.owner} (server ID ${sid(r.owner)})`);
  say(`   after 1 s: ${{ ...EVENTS, ...MOVE_EVENTS, ...DIRECTOR_EVENTS }[r.event]}`);
  say(`   its new address ${r.publicAfter} made the director pick ${r.directorAfter}`);
  const steered = Object.entries(r.steered).filter(([, n]) => n > 0);
  if (steered.length) for (const [name, n] of steered) say(`   ${name}'s quicsteer steered ${n} packets to ${r.owner} (quicsteer stats: steered)`);
  else say(`   nothing was steered: ${r.directorAfter} got packets for a connection it does not have`);
  say(`   ${r.owner} saw the client at ${r.ownerSaw.join(', then ') || 'no address'}`);
  if (complete(r)) say(`   result: transfer complete in ${secs(r.ms)}, the download byte-identical, the upload whole`);
  else say(`   result: transfer failed (download ${r.downloadIdentical ? 'complete' : 'incomplete'}, upload ${r.uploadComplete ? 'complete' : 'incomplete'}); the client gave up after ${secs(r.ms)}`);
}
