// The metrics endpoint run inside a test namespace (ip netns exec), as the agent would run it there:
//   metrics-server PIN   serves metricsRegistry(PIN, a fixed agent view, process metrics) on 127.0.0.1:<any>,
//                        prints {"port"}; then for each stdin line "GET <path>" makes that HTTP request
//                        to itself and prints {"status","type","body","ms"}; exits when stdin ends.
import readline from 'node:readline';
import type { AddressInfo } from 'node:net';
import { metricsRegistry, serveMetrics, type AgentView } from '../../src/agent/metrics.js';

/** What the helper's agent view always says. */
export const HELPER_AGENT = {
  applies: { success: 4, failure: 2 },
  peers: [{ id: '0c0d', address: '192.0.2.12:443', up: false }],
};

const view: AgentView = { applies: () => HELPER_AGENT.applies, peers: () => HELPER_AGENT.peers };

if (process.argv[1]?.endsWith('metrics-server.js')) {
  const server = await serveMetrics({ ip: '127.0.0.1', port: 0 }, metricsRegistry(process.argv[2]!, view, { processMetrics: true }));
  const port = (server.address() as AddressInfo).port;
  process.stdout.write(JSON.stringify({ port }) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [method, p] = line.trim().split(' ');
    const t0 = performance.now();
    const r = await fetch(`http://127.0.0.1:${port}${p}`, { method });
    const body = await r.text();
    process.stdout.write(JSON.stringify({ status: r.status, type: r.headers.get('content-type'), body, ms: performance.now() - t0 }) + '\n');
  }
  server.close();
  process.exit(0);
}
