// What contrib/ ships is valid: the example apply file passes the agent's own schema (with its health
// and probe fields), and names only documentation addresses (RFC 5737), never a real network's.
import test from 'ava';
import path from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { ConfigFile, readConfigFile } from '../../src/control/schemas.js';

const EXAMPLE = path.join(ROOT, 'contrib/quicsteer.json.example');

test('contrib/quicsteer.json.example is a valid apply file, with peer probes and health settings', (t) => {
  const cfg = readConfigFile(EXAMPLE, ConfigFile);
  t.is(cfg.localId, '0a0b');
  t.true(cfg.servers.some((s) => s.id === cfg.localId), 'the server lists itself, as every server must');
  t.true(cfg.servers.filter((s) => s.id !== cfg.localId).every((s) => s.probe !== undefined), 'every peer has a probe address');
  t.true(cfg.health.enabled);
  const addresses = [...cfg.vips.map((v) => v.address.ip), ...cfg.servers.flatMap((s) => [s.ip, s.probe?.ip])].filter((a): a is string => !!a);
  t.true(addresses.every((a) => /^(192\.0\.2|198\.51\.100|203\.0\.113)\./.test(a)), addresses.join(' '));
});
