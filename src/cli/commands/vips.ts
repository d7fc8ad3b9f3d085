// quicsteer vips add <ip>:<port> --cid <spec>... | remove <ip>:<port> | list [--json]
import { Command } from 'commander';
import { collect, globals } from './common.js';
import { json, out, table } from '../output.js';

export function vipsCommand(): Command {
  const vips = new Command('vips').description('the VIP:port addresses whose QUIC packets are steered, and their CID layouts');
  vips
    .command('add')
    .description('add a VIP (or change its CID layout); IPv6 as [addr]:port')
    .argument('<address>', 'ip:port or [ipv6]:port')
    .requiredOption('--cid <spec>', 'quic-lb:sid=<1-15>[,nonce=<n>][,cr=<0-6>][,key-file=<path>|-] (repeat for several: one per config rotation codepoint), fixed:offset=<n>,len=<n>, msquic, mvfst', collect)
    .option('--json', 'machine-readable output')
    .action(async (address: string, opts: { cid: string[]; json?: boolean }, cmd: Command) => {
      const { parse, VipEndpoint, Spec } = await import('../../control/schemas.js');
      const ep = parse(VipEndpoint, address, 'VIP address');
      const specs = opts.cid.map((c) => parse(Spec, c, 'CID spec'));
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('vips add', { mount: true });
      const { vipsAdd } = await import('../../control/config.js');
      const r = vipsAdd(globals(cmd).pinPath, ep, specs);
      out(opts.json ? json({ address, result: r }) : `vip ${address}: ${r}\n`);
    });
  vips
    .command('remove')
    .description('remove a VIP')
    .argument('<address>', 'ip:port or [ipv6]:port')
    .option('--json', 'machine-readable output')
    .action(async (address: string, opts: { json?: boolean }, cmd: Command) => {
      const { parse, Endpoint } = await import('../../control/schemas.js');
      const ep = parse(Endpoint, address, 'VIP address');
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('vips remove');
      const { vipsRemove } = await import('../../control/config.js');
      const r = vipsRemove(globals(cmd).pinPath, ep);
      out(opts.json ? json({ address, result: r }) : `vip ${address}: ${r}\n`);
    });
  const config = vips.command('config').description("one QUIC-LB config of a VIP at a time: key rotation's two steps");
  config
    .command('add')
    .description('add a quic-lb config at a free config rotation codepoint, beside the VIP\'s others (both decode)')
    .argument('<address>', 'ip:port or [ipv6]:port')
    .requiredOption('--cid <spec>', 'quic-lb:sid=<1-15>[,nonce=<n>],cr=<0-6>[,key-file=<path>|-]')
    .option('--json', 'machine-readable output')
    .action(async (address: string, opts: { cid: string; json?: boolean }, cmd: Command) => {
      const { parse, Endpoint, Spec } = await import('../../control/schemas.js');
      const ep = parse(Endpoint, address, 'VIP address');
      const spec = parse(Spec, opts.cid, 'CID spec');
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('vips config add');
      const { vipsConfigAdd } = await import('../../control/config.js');
      const r = vipsConfigAdd(globals(cmd).pinPath, ep, spec);
      out(opts.json ? json({ address, result: r }) : `vip ${address}: config ${r}\n`);
    });
  config
    .command('remove')
    .description("remove the quic-lb config at a codepoint (once no connection uses its CIDs)")
    .argument('<address>', 'ip:port or [ipv6]:port')
    .requiredOption('--cr <0-6>', 'the config rotation codepoint')
    .option('--json', 'machine-readable output')
    .action(async (address: string, opts: { cr: string; json?: boolean }, cmd: Command) => {
      const { parse, Endpoint, ConfigRotation } = await import('../../control/schemas.js');
      const ep = parse(Endpoint, address, 'VIP address');
      const cr = parse(ConfigRotation, opts.cr, '--cr');
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('vips config remove');
      const { vipsConfigRemove } = await import('../../control/config.js');
      const r = vipsConfigRemove(globals(cmd).pinPath, ep, cr);
      out(opts.json ? json({ address, result: r }) : `vip ${address}: config ${r}\n`);
    });
  vips
    .command('list')
    .description('list VIPs')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { requireCaps } = await import('../../control/errors.js');
      requireCaps('vips list');
      const { vipsList } = await import('../../control/config.js');
      const { formatSpec } = await import('../../control/spec.js');
      const list = vipsList(globals(cmd).pinPath).map((v) => ({ address: v.address, cid: v.specs.map(formatSpec) }));
      out(opts.json ? json(list) : list.length ? table(['VIP', 'CID'], list.map((v) => [v.address, v.cid.join(' ') || '(none)'])) : '(no VIPs)\n');
    });
  return vips;
}
