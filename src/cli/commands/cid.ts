// quicsteer cid decode <hex-cid> --cid <spec> / cid encode --cid <spec> --id <server-id> [--nonce <hex>] (no privileges needed)
import { Command } from 'commander';
import { collect, SERVER_ID_HELP } from './common.js';
import { json, out } from '../output.js';

const SPEC_HELP =
  'quic-lb:sid=<1-15>[,nonce=<n>][,cr=<0-6>][,key=<32 hex>|,key-file=<path>|,key-file=-] (repeat for several), fixed:offset=<n>,len=<n>, msquic, mvfst';

export function cidCommand(): Command {
  const cid = new Command('cid').description("decode or make connection IDs with a CID layout (the data path's own decoder)");
  cid
    .command('decode')
    .description('the server ID a connection ID carries under a layout')
    .argument('<hex-cid>', 'the connection ID in hex')
    .requiredOption('--cid <spec>', SPEC_HELP, collect)
    .option('--json', 'machine-readable output: cid, serverId, nonce, configRotation, encrypted, reason (and, for msquic, msquic: the ID as msquic-ip: and msquic-fixed:)')
    .action(async (hex: string, opts: { cid: string[]; json?: boolean }) => {
      const { parse, SpecInlineKey } = await import('../../control/schemas.js');
      const { withKeys } = await import('../../control/spec.js');
      const specs = withKeys(opts.cid.map((c) => parse(SpecInlineKey, c, 'CID spec')));
      const { cidDecode } = await import('../../control/cid.js');
      const r = cidDecode(hex, specs);
      const as = r.msquic ? ` (${r.msquic.ip} or ${r.msquic.fixed})` : '';
      out(opts.json ? json(r) : r.serverId !== null ? `${r.serverId}${as}\n` : `unroutable (${r.reason})\n`);
    });
  cid
    .command('encode')
    .description('a connection ID carrying a server ID under a layout (QUIC-LB: encrypted when the config has a key)')
    .requiredOption('--cid <spec>', 'the layout (repeat for several quic-lb configs)', collect)
    .requiredOption('--id <server-id>', SERVER_ID_HELP)
    .option('--nonce <hex>', 'QUIC-LB: this nonce instead of a random one (for test vectors)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { cid: string[]; id: string; nonce?: string; json?: boolean }) => {
      const { parse, SpecInlineKey, ServerIdHex, HexBytes } = await import('../../control/schemas.js');
      const { withKeys } = await import('../../control/spec.js');
      const specs = withKeys(opts.cid.map((c) => parse(SpecInlineKey, c, 'CID spec')));
      const id = parse(ServerIdHex, opts.id, '--id');
      const nonce = opts.nonce === undefined ? undefined : parse(HexBytes, opts.nonce, '--nonce');
      const { cidEncode } = await import('../../control/cid.js');
      const c = cidEncode(specs, id, nonce);
      out(opts.json ? json({ cid: c, serverId: id }) : `${c}\n`);
    });
  return cid;
}
