// What unsigned callers can cost the lab (issue 11 item 8): the lab process's RSS over unsigned POSTs
// that each carry a 1 MB `Action`. Every one must be refused, and nothing of them kept.
// The lab reads and drops the rest of a refused body (a lingering close: closing with unread bytes
// would reset the client before it reads its 400), and Node hands each chunk over in a Buffer of its
// own that V8 frees only at its next collection: the first batch's RSS runs ahead by tens of MiB of
// garbage. What the lab keeps is the growth over a second batch, once that garbage is collected in
// turn; both are reported.
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
    const batch = async () => {
      let next = 0;
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < REQUESTS) { next++; statuses.push(await unsignedPost(endpoint, agent, body)); }
      }));
    };
    await batch();
    const first = await memoryMiB(pid);
    await batch();
    const after = await memoryMiB(pid);
    const grew = after.rss - first.rss;
    const refused = statuses.filter((s) => s === 400).length;
    return [{
      suite: 'lab', metric: `lab RSS growth over ${REQUESTS} more unsigned POSTs with a 1 MB Action (after a first ${REQUESTS})`, value: Math.round(grew * 10) / 10, unit: 'MiB',
      target: '< +20', met: grew < 20 && refused === statuses.length,
      note: `${Math.round(first.rss)} → ${Math.round(after.rss)} MiB; the first ${REQUESTS}: ${Math.round(before.rss)} → ${Math.round(first.rss)} MiB (garbage of the dropped bodies, freed at V8's next collection); peak ${Math.round(after.peak)} MiB; ${refused}/${statuses.length} refused with 400`,
    }];
  } finally {
    agent.destroy();
    await lab.stop();
  }
}
