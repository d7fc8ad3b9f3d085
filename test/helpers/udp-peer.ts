// A UDP peer run inside a test namespace (ip netns exec):
//   listen ADDR PORT [echo]   prints "ready", then one JSON line per datagram ({from, port, data}); echo sends each back
//   send ADDR PORT HEX COUNT  sends COUNT datagrams
//   ask ADDR PORT HEX MS      sends one datagram, prints the first reply as JSON (exit 1 without one within MS)
//   stream ADDR PORT FILE     sends the datagrams of FILE (hex, one per line) round and round, about
//                             one per 200 us, until stdin ends; then prints {"sent": n}
//   paced ADDR PORT FILE RATE SECS
//                             sends datagram i = line i mod n of FILE (hex) followed by i as 4 octets
//                             (big-endian), RATE a second, until stdin ends (at most SECS seconds);
//                             then prints {"sent": n, "failed": [i, ...], "ms": t} (sends the kernel
//                             refused; milliseconds from the first datagram to the end)
//   batch ADDR PORT FILE RATE  sends each datagram of FILE (hex, one per line) once, in order, RATE a
//                             second; then prints {"sent": n, "failed": [i, ...], "ms": t} and exits
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const [mode, addr, portArg, arg3, arg4, arg5] = process.argv.slice(2);
const port = Number(portArg);
const family = addr!.includes(':') ? 'udp6' : 'udp4';
const s = dgram.createSocket(family);
const line = (msg: Buffer, r: dgram.RemoteInfo) => JSON.stringify({ from: r.address, port: r.port, data: msg.toString('hex') }) + '\n';

if (mode === 'listen') {
  s.on('message', (msg, rinfo) => {
    process.stdout.write(line(msg, rinfo));
    if (arg3 === 'echo') s.send(msg, rinfo.port, rinfo.address);
  });
  s.bind(port, addr, () => process.stdout.write('ready\n'));
  // bounded: a listener never outlives its test
  setTimeout(() => process.exit(0), 60_000).unref();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else if (mode === 'send') {
  const data = Buffer.from(arg3!, 'hex');
  let left = Number(arg4 ?? 1);
  const next = () => (left-- > 0 ? s.send(data, port, addr, next) : s.close());
  next();
} else if (mode === 'ask') {
  const timer = setTimeout(() => {
    process.stderr.write('no reply\n');
    process.exit(1);
  }, Number(arg4 ?? 3000));
  s.on('message', (msg, rinfo) => {
    clearTimeout(timer);
    process.stdout.write(line(msg, rinfo));
    s.close();
  });
  s.send(Buffer.from(arg3!, 'hex'), port, addr);
} else if (mode === 'stream') {
  const all = readFileSync(arg3!, 'utf8').trim().split('\n').map((h) => Buffer.from(h, 'hex'));
  let sent = 0;
  let stop = false;
  process.stdin.on('end', () => (stop = true));
  process.stdin.resume();
  const next = () => {
    if (stop) {
      process.stdout.write(JSON.stringify({ sent }) + '\n');
      s.close();
      return;
    }
    s.send(all[sent % all.length]!, port, addr, () => {
      sent++;
      setTimeout(next, 0.2);
    });
  };
  next();
  setTimeout(() => process.exit(3), 60_000).unref();
} else if (mode === 'paced') {
  const all = readFileSync(arg3!, 'utf8').trim().split('\n').map((h) => Buffer.from(h, 'hex'));
  const stop = pace(Number(arg4), Infinity, (seq) => {
    const t = all[seq % all.length]!;
    const d = Buffer.allocUnsafe(t.length + 4);
    t.copy(d);
    d.writeUInt32BE(seq, t.length);
    return d;
  });
  process.stdin.on('end', stop);
  process.stdin.resume();
  setTimeout(() => process.exit(3), Number(arg5 ?? 60) * 1000).unref();
} else if (mode === 'batch') {
  const all = readFileSync(arg3!, 'utf8').trim().split('\n').map((h) => Buffer.from(h, 'hex'));
  pace(Number(arg4), all.length, (seq) => all[seq]!);
  setTimeout(() => process.exit(3), 60_000).unref();
} else {
  process.stderr.write('usage: udp-peer listen ADDR PORT [echo] | send ADDR PORT HEX COUNT | ask ADDR PORT HEX MS | stream ADDR PORT FILE | paced ADDR PORT FILE RATE SECS | batch ADDR PORT FILE RATE\n');
  process.exit(2);
}

/**
 * Sends datagram(seq) for seq = 0, 1, ... at `rate` a second until `limit` are sent or the returned
 * stop() is called; then prints {sent, failed, ms} (failed: the sends the kernel refused) and closes.
 */
function pace(rate: number, limit: number, datagram: (seq: number) => Buffer): () => void {
  // a stalled process catches up at most this many datagrams a millisecond: bursts stay far below a veth's 256-frame ring
  const BURST = 8;
  let sent = 0;
  let inflight = 0;
  let stopped = false;
  let done = false;
  const failed: number[] = [];
  const t0 = performance.now();
  const finish = () => {
    if (done) return;
    done = true;
    process.stdout.write(JSON.stringify({ sent, failed, ms: Math.round(performance.now() - t0) }) + '\n');
    s.close();
  };
  const stop = () => {
    stopped = true;
    if (inflight === 0) finish();
  };
  const tick = () => {
    if (stopped) return;
    const due = Math.min(limit, Math.floor(((performance.now() - t0) * rate) / 1000));
    for (let n = 0; sent < due && n < BURST; n++) {
      const seq = sent++;
      inflight++;
      s.send(datagram(seq), port, addr, (err) => {
        if (err) failed.push(seq);
        if (--inflight === 0 && stopped) finish();
      });
    }
    if (sent >= limit) stop();
    else setTimeout(tick, 1);
  };
  tick();
  return stop;
}
