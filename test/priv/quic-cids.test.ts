// A real QUIC server (ngtcp2 gtlsserver) with native/cidshim.c issues routable QUIC-LB CIDs: on
// the wire, the server's long-header SCIDs and every client short-header DCID carry its server ID,
// and so does every CID in the server's NEW_CONNECTION_ID frames (encrypted: tshark reads them with
// the client's SSLKEYLOGFILE). Control: the same exchange without the shim carries no such ID.
// With a key (QS_CID_KEY_FILE) the same CIDs hide the server ID and decode to it with the key only.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { privilegedSerial } from '../helpers/env.js';
import { Netns } from '../helpers/netns.js';
import { QuicServer } from '../helpers/quic-server.js';
import { serverIssuedCids, udpDatagrams } from '../helpers/pcap.js';
import { ROOT } from '../helpers/paths.js';
import { decodeCid } from '../../src/quic/cid.js';
import { specsToVip, parseSpec } from '../../src/control/spec.js';
import { decodeCidLb } from '../../src/quic/quic-lb.js';
import { tempDir } from '../helpers/tmp.js';

const SHIM = path.join(ROOT, 'build/lib/libcidshim.so');
const PORT = 4433;
const SERVER_ID = '0a0b';
// gtlsserver's CIDs are 18 bytes: first octet + 2-byte server ID + 15-byte nonce; 0x11 = cr 0, length 18
const SPEC = specsToVip([parseSpec('quic-lb:sid=2,nonce=15')], 'test');

/** One HTTP/3 GET against the server, captured on lo: the CIDs the server issued and the client used. */
async function exchange(ns: Netns, shimEnv?: Record<string, string>): Promise<{ serverScids: Buffer[]; clientDcids: Buffer[]; serverNewCids: Buffer[] }> {
  const srv = new QuicServer(ns.name, '127.0.0.1', PORT, shimEnv ? { env: { LD_PRELOAD: SHIM, ...shimEnv } } : {});
  const pcap = path.join(srv.dir, 'cap.pcap');
  const keylog = path.join(srv.dir, 'keys.log');
  writeFileSync(path.join(srv.dir, 'index.html'), 'x'.repeat(20000));
  const dump = spawn('ip', ['netns', 'exec', ns.name, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', 'lo', '-U', '-w', pcap, 'udp', 'port', String(PORT)], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 500));
    srv.start();
    await new Promise((r) => setTimeout(r, 500));
    const c = spawnSync('timeout', ['15', 'ip', 'netns', 'exec', ns.name, 'env', `SSLKEYLOGFILE=${keylog}`, 'gtlsclient', '--quiet', '--exit-on-all-streams-close', '127.0.0.1', String(PORT), `https://127.0.0.1:${PORT}/index.html`], { encoding: 'utf8' });
    if (c.status !== 0) throw new Error(`gtlsclient exited ${c.status}: ${c.stderr}`);
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    dump.kill('SIGINT');
    await new Promise((r) => dump.once('exit', r));
    srv.stop();
  }
  const d = udpDatagrams(pcap);
  // NEW_CONNECTION_ID (frame type 0x18) CIDs the server sent, decrypted with the client's keys
  const tshark = spawnSync('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keylog}`, '-d', `udp.port==${PORT},quic`, '-Y', `quic.frame_type == 0x18 && udp.srcport == ${PORT}`, '-T', 'fields', '-e', 'quic.nci.connection_id'], { encoding: 'utf8' });
  if (tshark.status !== 0) throw new Error(`tshark: ${tshark.stderr}`);
  const serverNewCids = tshark.stdout.split(/[\s,]+/).filter(Boolean).map((h) => Buffer.from(h, 'hex'));
  srv.destroy();
  return { ...serverIssuedCids(d, PORT, 18), serverNewCids };
}

const sidOf = (cid: Buffer) => {
  const r = decodeCid(cid, SPEC);
  return 'sid' in r ? r.sid.toString('hex') : r.reason;
};

privilegedSerial('gtlsserver with the CID shim: every CID it issues (long headers, NEW_CONNECTION_ID) and the client uses carries its server ID; without the shim none does', async (t) => {
  const ns = new Netns('qs-cid');
  try {
    const on = await exchange(ns, { QS_CID_FIRST_OCTET: '11', QS_CID_SERVER_ID: SERVER_ID });
    t.true(on.serverScids.length >= 1, 'long-header packets from the server');
    t.true(on.clientDcids.length >= 3, `${on.clientDcids.length} short-header packets from the client`);
    t.true(on.serverScids.every((c) => c.length === 18 && c[0] === 0x11), 'server SCIDs: 18 bytes, QUIC-LB first octet');
    t.true(on.serverNewCids.length >= 2, `${on.serverNewCids.length} CIDs in NEW_CONNECTION_ID frames`);
    t.deepEqual([...new Set([...on.serverScids, ...on.clientDcids, ...on.serverNewCids].map(sidOf))], [SERVER_ID]);

    const off = await exchange(ns);
    t.true(off.clientDcids.length >= 3);
    t.true(off.serverNewCids.length >= 2, 'control: the frames are decrypted too');
    t.false([...off.clientDcids, ...off.serverNewCids].some((c) => sidOf(c) === SERVER_ID), 'control: random CIDs do not carry the server ID');
  } finally {
    ns.destroy();
  }
});

// Encrypted: 4-pass Feistel (sid 2 + nonce 15 = 17 octets, odd: the nibble split) and single pass
// (sid 3 + nonce 13 = 16 octets, the CID's 18th octet left random).
const ENCRYPTED: { what: string; sid: string; nonceLen: number; env: Record<string, string> }[] = [
  { what: '4-pass Feistel, sid 2 + nonce 15', sid: '0a0b', nonceLen: 15, env: {} },
  { what: 'single pass, sid 3 + nonce 13 (QS_CID_NONCE_LEN)', sid: '0a0b0c', nonceLen: 13, env: { QS_CID_NONCE_LEN: '13' } },
];

for (const c of ENCRYPTED)
  privilegedSerial(`gtlsserver with the CID shim and a key (${c.what}): no CID on the wire shows the server ID in clear, every one decodes to it with the key; with another key none does`, async (t) => {
    const ns = new Netns('qs-cid');
    const key = randomBytes(16);
    const keyFile = path.join(tempDir('qs-cidkey'), 'key');
    writeFileSync(keyFile, `${key.toString('hex')}\n`, { mode: 0o600 });
    try {
      const x = await exchange(ns, { QS_CID_FIRST_OCTET: '11', QS_CID_SERVER_ID: c.sid, QS_CID_KEY_FILE: keyFile, ...c.env });
      t.true(x.serverScids.length >= 1, 'long-header packets from the server');
      t.true(x.clientDcids.length >= 3, `${x.clientDcids.length} short-header packets from the client`);
      t.true(x.serverNewCids.length >= 2, `${x.serverNewCids.length} CIDs in NEW_CONNECTION_ID frames`);
      const cids = [...new Map([...x.serverScids, ...x.clientDcids, ...x.serverNewCids].map((b) => [b.toString('hex'), b])).values()];
      t.log(`${cids.length} distinct server-issued CIDs on the wire`);
      t.true(cids.every((b) => b.length === 18 && b[0] === 0x11), 'all 18 bytes, QUIC-LB first octet');
      // an encrypted CID shows the server ID by chance (2^-8 per sid octet): at most one of them
      const sidLen = c.sid.length / 2;
      const inClear = cids.filter((b) => b.subarray(1, 1 + sidLen).toString('hex') === c.sid);
      t.true(inClear.length <= 1, `${inClear.length} of ${cids.length} CIDs show the server ID in clear`);
      const conf = { cr: 0, sidLen, nonceLen: c.nonceLen };
      const sids = (k: Buffer) => cids.map((b) => decodeCidLb({ ...conf, key: k }, b).sid.toString('hex'));
      t.deepEqual([...new Set(sids(key))], [c.sid], 'every CID decodes to the server ID with the key');
      const n = sidLen + c.nonceLen;
      t.true(
        cids.every((b) => {
          const p = decodeCidLb({ ...conf, key }, b);
          return !b.subarray(1, 1 + n).equals(Buffer.concat([p.sid, p.nonce]));
        }),
        'no CID carries its server ID and nonce as they are',
      );
      // distinct nonces: the CIDs are not one ciphertext repeated
      t.is(new Set(cids.map((b) => decodeCidLb({ ...conf, key }, b).nonce.toString('hex'))).size, cids.length);
      // control: another key does not find the server ID (but for the same 2^-8-per-octet chance)
      const other = sids(randomBytes(16)).filter((s) => s === c.sid);
      t.true(other.length <= 1, `${other.length} of ${cids.length} CIDs decode to the server ID with another key`);
    } finally {
      ns.destroy();
    }
  });
