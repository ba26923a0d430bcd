// What unsigned callers can cost the lab (issue 11 item 8): the lab process's RSS after 150 unsigned
// POSTs that each carry a 1 MB `Action`. Every one must be refused, and nothing of them kept.
import { Agent, request } from 'node:http';
import { memoryMiB, startLabProcess, type BenchRow } from './bench-support.js';

const REQUESTS = 150;
const ACTION_BYTES = 1_000_000;

/** One unsigned POST; resolves with the HTTP status (0 when the connection failed). */
function unsignedPost(endpoint: URL, agent: Agent, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = request({
      host: endpoint.hostname, port: endpoint.port, path: '/', method: 'POST', agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

export async function labUnsignedBench(): Promise<BenchRow[]> {
  const lab = await startLabProcess({ deviceCount: 1, throttle: 'off' });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const endpoint = new URL(lab.conn.apiEndpoint);
    const pid = lab.child.pid as number;
    const before = await memoryMiB(pid);
    const body = Buffer.from(`Action=${'A'.repeat(ACTION_BYTES)}`);
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < REQUESTS) { next++; statuses.push(await unsignedPost(endpoint, agent, body)); }
    }));
    const after = await memoryMiB(pid);
    const grew = after.rss - before.rss;
    const refused = statuses.filter((s) => s === 400).length;
    return [{
      suite: 'lab', metric: `lab RSS growth after ${REQUESTS} unsigned POSTs with a 1 MB Action`, value: Math.round(grew * 10) / 10, unit: 'MiB',
      target: '< +20', met: grew < 20 && refused === REQUESTS,
      note: `${Math.round(before.rss)} → ${Math.round(after.rss)} MiB (peak ${Math.round(after.peak)}); ${refused}/${REQUESTS} refused with 400`,
    }];
  } finally {
    agent.destroy();
    await lab.stop();
  }
}
