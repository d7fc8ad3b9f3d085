// quicsteer cid decode <hex-cid> --cid <spec> / cid encode --cid <spec> --id <server-id> (no privileges needed)
import { Command } from 'commander';
import { collect } from './common.js';
import { json, out } from '../output.js';

export function cidCommand(): Command {
  const cid = new Command('cid').description('decode or make connection IDs with a CID layout (the data path\'s own decoder)');
  cid
    .command('decode')
    .description('the server ID a connection ID carries under a layout')
    .argument('<hex-cid>', 'the connection ID in hex')
    .requiredOption('--cid <spec>', 'quic-lb:sid=<1-15>[,nonce=<n>][,cr=<0-6>] (repeat for several), fixed:offset=<n>,len=<n>, msquic, mvfst', collect)
    .option('--json', 'machine-readable output')
    .action(async (hex: string, opts: { cid: string[]; json?: boolean }) => {
      const { parse, Spec } = await import('../../control/schemas.js');
      const specs = opts.cid.map((c) => parse(Spec, c, 'CID spec'));
      const { cidDecode } = await import('../../control/cid.js');
      const r = cidDecode(hex, specs);
      out(opts.json ? json(r) : r.serverId !== null ? `${r.serverId}\n` : `unroutable (${r.reason})\n`);
    });
  cid
    .command('encode')
    .description('a connection ID (random nonce) carrying a server ID under a layout')
    .requiredOption('--cid <spec>', 'the layout (repeat for several quic-lb configs)', collect)
    .requiredOption('--id <server-id>', 'hex bytes')
    .option('--json', 'machine-readable output')
    .action(async (opts: { cid: string[]; id: string; json?: boolean }) => {
      const { parse, Spec, ServerIdHex } = await import('../../control/schemas.js');
      const specs = opts.cid.map((c) => parse(Spec, c, 'CID spec'));
      const id = parse(ServerIdHex, opts.id, '--id');
      const { cidEncode } = await import('../../control/cid.js');
      const c = cidEncode(specs, id);
      out(opts.json ? json({ cid: c, serverId: id }) : `${c}\n`);
    });
  return cid;
}
