// The agent's HTTP fetcher against a real server on loopback: the idle timeout fires mid-body, and
// keep-alive sockets reused by download after download do not collect timeout listeners.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpFetcher } from '../../agent/fetcher.js';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
  const addr = server.address() as { port: number };
  return `http://127.0.0.1:${addr.port}/fw.bin`;
}

describe('http fetcher', () => {
  it('reuses keep-alive sockets without piling timeout listeners on them', async () => {
    const sockets = new Set<Socket>();
    const url = await serve((req, res) => {
      sockets.add(req.socket);
      res.writeHead(req.headers.range ? 206 : 200, { 'content-length': '1024' }).end(Buffer.alloc(1024, 7));
    });
    const fetcher = createHttpFetcher({ allowInsecureHttp: true });
    const counts: number[] = [];
    for (let i = 0; i < 15; i++) {
      const r = await fetcher(url, { timeoutMs: 30_000, rangeStart: i % 2 ? 10 : 0 });
      const socket = (r.body as unknown as { socket: Socket }).socket;
      for await (const chunk of r.body) void chunk;
      await new Promise((resolve) => setImmediate(resolve));
      counts.push(socket.listenerCount('timeout'));
    }
    // The sockets were reused (fewer than the downloads), and the listener count did not grow with them.
    expect(sockets.size).toBeLessThan(15);
    expect(Math.max(...counts)).toBe(counts[0]);
  });

  it('fails a body that stops arriving with "no data for N ms"', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '2048' });
      res.write(Buffer.alloc(1024)); // and never the rest
    });
    const fetcher = createHttpFetcher({ allowInsecureHttp: true });
    const r = await fetcher(url, { timeoutMs: 300 });
    const drained = (async () => { for await (const chunk of r.body) void chunk; })();
    await expect(drained).rejects.toThrow(/no data for 300 ms/);
  });

  it('refuses plain http unless allowed', async () => {
    const fetcher = createHttpFetcher({ allowInsecureHttp: false });
    await expect(fetcher('http://127.0.0.1:9/fw.bin', { timeoutMs: 1000 })).rejects.toThrow(/not HTTPS/);
  });
});
