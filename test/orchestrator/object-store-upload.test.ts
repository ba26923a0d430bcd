// The client side of PostObject against stores that misbehave (real loopback servers on port 0):
// a refusal, a failing store, a store that never answers (on the injected clock); and the progress
// bar's lines in a terminal of any width.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../../shared/clock.js';
import { isOtaError } from '../../shared/errors.js';
import { postObject } from '../../orchestrator/object-store-upload.js';
import { progressBar } from '../../orchestrator/upload-progress.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
});

async function store(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

const grant = (host: string) => ({ Host: host, Key: 'up0/k.bin', Policy: 'cG9saWN5', OSSAccessKeyId: 'LTAIx', Signature: 'c2ln' });
const file = new Blob([Buffer.alloc(200_000, 3)]);

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (isOtaError(err)) return { code: err.code, message: err.message, details: err.details };
    throw err;
  }
  throw new Error('expected the upload to fail');
}

describe('postObject', () => {
  it('sends the form fields and then the file, streamed, and takes a 2xx', async () => {
    let body = '';
    let type = '';
    const host = await store((req, res) => {
      type = req.headers['content-type'] ?? '';
      req.on('data', (c: Buffer) => { body += c.toString('latin1'); });
      req.on('end', () => { res.writeHead(200, { etag: '"ABC"' }); res.end(); });
    });
    const seen: number[] = [];
    const r = await postObject(grant(host), file, 'k.bin', { clock: new ManualClock(), stallTimeoutMs: 60_000, onProgress: (n) => seen.push(n) });
    expect(r.etag).toBe('"ABC"');
    expect(type).toMatch(/^multipart\/form-data; boundary=/);
    const names = [...body.matchAll(/; name="([^"]+)"/g)].map((m) => m[1]);
    expect(names).toEqual(['key', 'policy', 'OSSAccessKeyId', 'Signature', 'success_action_status', 'file']);
    expect(seen[seen.length - 1]).toBeGreaterThan(200_000);
  });

  it('a refusal is REFUSED (exit 2) with the store\'s status and Code', async () => {
    const host = await store((req, res) => {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>');
    });
    const f = await failure(postObject(grant(host), file, 'k.bin', { clock: new ManualClock(), stallTimeoutMs: 60_000 }));
    expect(f.code).toBe('REFUSED');
    expect(f.details).toMatchObject({ httpStatus: 403, storeCode: 'AccessDenied' });
    expect(f.message).toContain('Policy expired');
  });

  it('a failing store (5xx) is a TRANSPORT_ERROR (exit 3), worth another try', async () => {
    const host = await store((req, res) => { req.resume(); res.writeHead(503); res.end('<Error><Code>ServiceUnavailable</Code></Error>'); });
    const f = await failure(postObject(grant(host), file, 'k.bin', { clock: new ManualClock(), stallTimeoutMs: 60_000 }));
    expect(f.code).toBe('TRANSPORT_ERROR');
    expect(f.details).toMatchObject({ httpStatus: 503, storeCode: 'ServiceUnavailable' });
  });

  it('a store that takes the body and never answers is abandoned after the stall timeout (injected clock)', async () => {
    const clock = new ManualClock();
    let received!: () => void;
    const bodyIn = new Promise<void>((r) => { received = r; });
    const host = await store((req) => { req.resume(); req.on('end', () => received()); });
    const upload = failure(postObject(grant(host), file, 'k.bin', { clock, stallTimeoutMs: 60_000 }));
    await bodyIn;
    clock.advance(59_000);
    clock.advance(2_000);
    const f = await upload;
    expect(f.code).toBe('TRANSPORT_ERROR');
    expect(f.message).toContain('nothing moved for 60 s');
  });

  it('a store that is not there is a TRANSPORT_ERROR naming the cause', async () => {
    const host = await store(() => undefined);
    await new Promise<void>((r) => { const s = servers.pop(); s?.close(() => r()); });
    const f = await failure(postObject(grant(host), file, 'k.bin', { clock: new ManualClock(), stallTimeoutMs: 60_000 }));
    expect(f.code).toBe('TRANSPORT_ERROR');
    expect(f.message).toContain('ECONNREFUSED');
  });
});

describe('progressBar', () => {
  it('draws nothing without a terminal', () => {
    expect(progressBar({ write: () => undefined }, () => 0)).toBeUndefined();
  });

  it.each([40, 80, 200, 0])('keeps every line within %i columns (0: a terminal that reports none, taken as 80)', (columns) => {
    const lines: string[] = [];
    let now = 0;
    const bar = progressBar({ isTTY: true, columns, write: (s: string) => { lines.push(s); } }, () => now);
    for (let sent = 0; sent <= 900 * 1024 * 1024; sent += 64 * 1024 * 1024) { now += 150; bar?.update(sent, 900 * 1024 * 1024); }
    bar?.update(900 * 1024 * 1024, 900 * 1024 * 1024);
    bar?.done();
    const width = columns || 80;
    const drawn = lines.filter((l) => l.startsWith('\r'));
    expect(drawn.length).toBeGreaterThan(5);
    for (const l of drawn) expect(l.replace('\r\x1b[2K', '').length).toBeLessThan(width);
    expect(drawn[drawn.length - 1]).toContain('100%');
    // A bar of at least 20 marks wherever the width allows one (a width of 0 is taken as 80).
    if (width >= 80) expect(drawn[drawn.length - 1]).toMatch(/\[#{20,}\]/);
    expect(lines[lines.length - 1]).toBe('\n');
  });
});
