// A firmware HTTP server on loopback (port 0) whose every response a test decides, and a lab firmware
// that points at it, so a test can cut, drip or lie exactly where it wants and see every request.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { observeLab } from './observe-lab.js';
import { popClient } from './lab-fixtures.js';

export interface SeenRequest {
  path: string;
  range: string | undefined;
  /** The Range's first byte, when there was one. */
  rangeStart: number | undefined;
  /** Body bytes this response wrote. */
  bodyBytes: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void | Promise<void>;

export interface FirmwareServer {
  readonly base: string;
  readonly requests: SeenRequest[];
  handler: Handler;
  /** Resolves when the server has seen `n` requests in all. */
  requestCount(n: number): Promise<SeenRequest>;
  close(): Promise<void>;
}

export async function startFirmwareServer(handler: Handler): Promise<FirmwareServer> {
  const requests: SeenRequest[] = [];
  const waiters: { n: number; resolve: (r: SeenRequest) => void }[] = [];
  const server = createServer((req, res) => {
    const range = req.headers.range;
    const m = /^bytes=(\d+)-$/.exec(range ?? '');
    const seen: SeenRequest = { path: req.url ?? '/', range, rangeStart: m ? Number(m[1]) : undefined, bodyBytes: 0 };
    requests.push(seen);
    const write = res.write.bind(res) as (chunk: Buffer, cb?: () => void) => boolean;
    res.write = ((chunk: Buffer, cb?: () => void) => { seen.bodyBytes += chunk.length; return write(chunk, cb); }) as typeof res.write;
    // A body handed to end() counts too (res.end(body) does not go through res.write).
    const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
    res.end = ((chunk?: unknown) => { if (Buffer.isBuffer(chunk)) seen.bodyBytes += chunk.length; return end(chunk); }) as typeof res.end;
    void Promise.resolve(fs.handler(req, res, seen)).catch(() => res.destroy());
    for (const w of [...waiters]) if (requests.length >= w.n) { waiters.splice(waiters.indexOf(w), 1); w.resolve(requests[w.n - 1] as SeenRequest); }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fs: FirmwareServer = {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    handler,
    requestCount(n) {
      if (requests.length >= n) return Promise.resolve(requests[n - 1] as SeenRequest);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
  return fs;
}

/** Serve `content` honouring `bytes=N-`; with `cutAfter`, write exactly that many body bytes, then drop the connection. */
export function serveRange(content: Buffer, req: IncomingMessage, res: ServerResponse, seen: SeenRequest, cutAfter?: number): void {
  const start = seen.rangeStart ?? 0;
  if (start >= content.length) {
    res.writeHead(416, { 'content-range': `bytes */${content.length}` });
    res.end();
    return;
  }
  const body = content.subarray(start);
  res.writeHead(seen.rangeStart !== undefined ? 206 : 200, {
    'content-length': body.length, 'accept-ranges': 'bytes',
    ...(seen.rangeStart !== undefined ? { 'content-range': `bytes ${start}-${content.length - 1}/${content.length}` } : {}),
  });
  if (cutAfter === undefined || cutAfter >= body.length) {
    res.end(body);
    return;
  }
  // Once the bytes are in the kernel, close: the peer gets exactly `cutAfter` bytes, then the end.
  res.write(body.subarray(0, cutAfter), () => res.destroy());
}

/** A lab firmware whose URL is on `server`, with the size and digest a test says (true or not). */
export async function addServedFirmware(lab: Lab, server: FirmwareServer, o: { path: string; size: number; content?: Buffer; version: string; sign?: string }): Promise<string> {
  const sign = o.sign ?? createHash('sha256').update(o.content ?? Buffer.alloc(0)).digest('hex');
  const res = await popClient(lab).call<{ Data: { FirmwareId: string } }>('CreateOTAFirmware', {
    ProductKey: lab.connection.productKey, FirmwareName: `fw-${Math.random().toString(36).slice(2, 10)}`,
    DestVersion: o.version, FirmwareUrl: `${server.base}${o.path}`, FirmwareSign: sign, SignMethod: 'SHA256', FirmwareSize: o.size,
  });
  return res.Data.FirmwareId;
}

/** Every progress step the platform received from a device, in order, with its desc (as forwarded). */
export async function recordSteps(lab: Lab, deviceName: string): Promise<{ step: number; desc: string | undefined }[]> {
  const obs = await observeLab(lab);
  return obs.collect((m) => (m.kind === 'progress' && m.deviceName === deviceName ? { step: m.body.step, desc: m.body.desc } : undefined));
}

/** A one-device lab and a firmware server that answers 404 until a test sets its handler (both
 *  closed by `cleanup`), and a fresh work dir. */
export async function labWithFirmwareServer(cleanup: (() => Promise<unknown>)[], dirPrefix: string): Promise<{ lab: Lab; server: FirmwareServer; workDir: string }> {
  const lab = await startLab({ deviceCount: 1, throttle: 'off' });
  cleanup.push(() => lab.close());
  const server = await startFirmwareServer((_req, res) => { res.writeHead(404); res.end(); });
  cleanup.push(() => server.close());
  return { lab, server, workDir: await mkdtemp(join(tmpdir(), dirPrefix)) };
}
