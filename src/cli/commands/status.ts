// quicsteer status [--json]: attachments and their AES implementation, local ID, VIPs, servers, and what looks inconsistent.
import { Command } from 'commander';
import { globals } from './common.js';
import { json, out, table } from '../output.js';

export function statusCommand(): Command {
  return new Command('status')
    .description('attached interfaces, local server ID, VIPs, servers, and consistency warnings')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('status');
      const { pinPath } = globals(cmd);
      const { readOnly, consistency } = await import('../../control/status.js');
      const { EMPTY_SNAPSHOT } = await import('../../control/state.js');
      const { formatSpec } = await import('../../control/spec.js');
      const { IncompleteStateError, readLinks } = await import('../../control/state.js');
      const { kernelCrypto, CIPHER } = await import('../../datapath/crypto.js');
      let snap = EMPTY_SNAPSHOT;
      let wedged: string | null = null;
      try {
        snap = readOnly(pinPath, (st) => st.snapshot(), EMPTY_SNAPSHOT);
      } catch (e) {
        // a wedged state is what status is for: name it, and the command that clears it
        if (!(e instanceof IncompleteStateError)) throw e;
        wedged = e.message;
        snap = { ...EMPTY_SNAPSHOT, ...readLinks(pinPath) };
      }
      const kernel = kernelCrypto();
      const report = {
        pinPath,
        attached: snap.links.map((l) => ({ interface: l.ifname, ifindex: l.ifindex, mode: l.mode, aes: l.aes, progId: l.progId, linkId: l.linkId })),
        // which AES decodes encrypted CIDs on each interface (attached[].aes), and what the kernel offers
        aes: { kernelKfuncs: kernel.kfuncs, cipher: CIPHER, driver: kernel.driver },
        localId: snap.localId,
        generation: snap.generation ? { seq: snap.generation.seq, index: snap.generation.gen, inactiveHalfWritten: snap.generation.staleWriting } : null,
        vips: snap.vips.map((v) => ({ address: v.address, cid: v.specs.map(formatSpec) })),
        servers: snap.servers.map((s) => ({ id: s.id, mac: s.mac, state: s.state, dev: s.dev, slot: s.slot })),
        warnings: [...(wedged ? [wedged] : []), ...consistency(snap), ...(snap.foreign ?? []).map((f) => `${f} under the pin path is not a quicsteer link (left alone; remove it by hand)`)],
      };
      if (opts.json) return out(json(report));
      let s = `pin path: ${pinPath}\nlocal id: ${report.localId ?? '(none)'}\n${report.generation ? `generation: ${report.generation.seq}${report.generation.inactiveHalfWritten ? ' (a writer killed midway left the inactive one half-written; the next change rewrites it)' : ''}\n` : ''}`;
      const cipher = `${CIPHER}: ${report.aes.driver ?? 'driver not listed in /proc/crypto'}`;
      const impls = [...new Set(report.attached.map((a) => a.aes))];
      if (impls.length === 1) s += `aes: ${impls[0] === 'kfunc' ? `kfunc (${cipher})` : impls[0]}\n`;
      else if (impls.length > 1) s += `aes: per interface, see AES below${impls.includes('kfunc') ? ` (kfunc: ${cipher})` : ''}\n`;
      s += `aes kfuncs in this kernel: ${report.aes.kernelKfuncs ? 'yes (attach --aes kfunc)' : 'no (Linux < 6.10 or built without them): table only'}\n`;
      s += report.attached.length
        ? `\n${table(['INTERFACE', 'IFINDEX', 'MODE', 'AES', 'PROG', 'LINK'], report.attached.map((a) => [a.interface ?? '(gone)', a.ifindex, a.mode, a.aes, a.progId, a.linkId]))}`
        : 'attached: (none)\n';
      s += report.vips.length ? `\n${table(['VIP', 'CID'], report.vips.map((v) => [v.address, v.cid.join(' ') || '(none)']))}` : 'vips: (none)\n';
      s += report.servers.length
        ? `\n${table(['SERVER', 'MAC', 'STATE', 'DEV'], report.servers.map((x) => [x.id, x.mac, x.state, x.dev ?? '-']))}`
        : 'servers: (none)\n';
      s += report.warnings.length ? `\nwarnings:\n${report.warnings.map((w) => `  - ${w}\n`).join('')}` : '\nconsistent: yes\n';
      out(s);
    });
}
