// A UDP peer run inside a test namespace (ip netns exec): `listen ADDR PORT` prints one JSON line per
// datagram ({from, port, data}) after a "ready" line; `send ADDR PORT HEX COUNT` sends COUNT datagrams.
import dgram from 'node:dgram';

const [mode, addr, portArg, hex, countArg] = process.argv.slice(2);
const port = Number(portArg);
const family = addr!.includes(':') ? 'udp6' : 'udp4';

if (mode === 'listen') {
  const s = dgram.createSocket(family);
  s.on('message', (msg, rinfo) => process.stdout.write(JSON.stringify({ from: rinfo.address, port: rinfo.port, data: msg.toString('hex') }) + '\n'));
  s.bind(port, addr, () => process.stdout.write('ready\n'));
  // bounded: a listener never outlives its test
  setTimeout(() => process.exit(0), 60_000).unref();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else if (mode === 'send') {
  const s = dgram.createSocket(family);
  const data = Buffer.from(hex!, 'hex');
  let left = Number(countArg ?? 1);
  const next = () => (left-- > 0 ? s.send(data, port, addr, next) : s.close());
  next();
} else {
  process.stderr.write('usage: udp-peer listen ADDR PORT | send ADDR PORT HEX COUNT\n');
  process.exit(2);
}
