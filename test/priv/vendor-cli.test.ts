// MsQuic layouts on live pinned state (a private bpffs): a VIP an older build pinned as msquic (short-header
// CID of 5 bytes) reads as fixed:offset=1,len=4 and msquic over it is a change, in vips add and in apply;
// servers, the local ID and the apply file take MsQuic's settings (msquic-ip:, msquic-fixed:) as server IDs.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { privilegedSerial } from '../helpers/env.js';
import { TempBpffs } from '../helpers/bpffs.js';
import { tempDir } from '../helpers/tmp.js';
import { cli, cliJson } from '../helpers/cli.js';
import { vipsList } from '../../src/control/config.js';

const VIP = '192.0.2.10:4433';

privilegedSerial("msquic over an older build's msquic VIP (5-byte short-header CID) is a change; server IDs in MsQuic's forms", (t) => {
  const fs = new TempBpffs();
  try {
    const q = (...args: string[]) => cli(['--pin-path', fs.dir, ...args]);
    const dcidLen = () => vipsList(fs.dir).map((v) => [v.address, v.value.dcid_len]);
    // what a build before 14-byte MsQuic CIDs pinned for `--cid msquic`: bytes 1..4, short-header CID of 5
    t.is(q('vips', 'add', VIP, '--cid', 'fixed:offset=1,len=4').stdout, `vip ${VIP}: added\n`);
    t.deepEqual(dcidLen(), [[VIP, 5]]);
    t.deepEqual(cliJson(q('vips', 'list', '--json')), [{ address: VIP, cid: ['fixed:offset=1,len=4'] }]);

    const dir = tempDir('qs-vendor');
    const f = path.join(dir, 'qs.json');
    writeFileSync(f, JSON.stringify({
      localId: 'msquic-ip:192.0.2.1',
      vips: [{ address: VIP, cid: 'msquic' }],
      servers: [{ id: 'msquic-ip:192.0.2.1', mac: '02:00:00:00:00:01' }, { id: 'msquic-fixed:0x020200c0', mac: '02:00:00:00:00:02' }],
    }));
    const dry = cliJson<{ changes: string[] }>(q('apply', '-f', f, '--dry-run', '--json'));
    t.deepEqual(dry.changes, [
      '+ local id c0000201',
      `~ vip ${VIP} fixed:offset=1,len=4 -> msquic`,
      '+ server c0000201 02:00:00:00:00:01 up',
      '+ server c0000202 02:00:00:00:00:02 up',
    ]);
    t.regex(q('apply', '-f', f).stdout, /applied\n$/);
    t.deepEqual(dcidLen(), [[VIP, 14]], 'short headers now carry the whole 14-byte CID');
    t.is(q('apply', '-f', f).stdout, 'no changes\n');

    // vips add: msquic over the older value is an update, then unchanged
    t.is(q('vips', 'add', VIP, '--cid', 'fixed:offset=1,len=4').stdout, `vip ${VIP}: updated\n`);
    t.is(q('vips', 'add', VIP, '--cid', 'msquic').stdout, `vip ${VIP}: updated\n`);
    t.is(q('vips', 'add', VIP, '--cid', 'msquic').stdout, `vip ${VIP}: unchanged\n`);
    t.deepEqual(cliJson(q('vips', 'list', '--json')), [{ address: VIP, cid: ['msquic'] }]);

    // one server, three spellings: the wire bytes are what is stored and shown
    t.is(q('servers', 'add', 'msquic-ip:192.0.2.2', '--mac', '02:00:00:00:00:02').stdout, 'server c0000202 (02:00:00:00:00:02): unchanged\n');
    t.is(q('servers', 'set', 'msquic-fixed:33685696', '--state', 'drain').stdout, 'server c0000202: drain (updated)\n');
    const before = cliJson(q('status', '--json'));
    const bad = q('servers', 'remove', 'msquic-fixed:0x1g');
    t.is(bad.code, 2);
    t.is(bad.stderr, "quicsteer: bad server ID 'msquic-fixed:0x1g': msquic-fixed: '0x1g' is not a uint32 (FixedServerID: 0..4294967295, decimal or 0x-hex)\n");
    t.deepEqual(cliJson(q('status', '--json')), before, 'a bad ID changes nothing');
    t.is(q('servers', 'remove', 'c0000202').stdout, 'server c0000202: removed\n');
    t.like(cliJson<{ localId: string; servers: { id: string }[] }>(q('status', '--json')), { localId: 'c0000201', servers: [{ id: 'c0000201' }] });
  } finally {
    fs.destroy();
  }
});
