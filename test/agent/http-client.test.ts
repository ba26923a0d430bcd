// The agent's own HTTP/1.1 client against hostile servers on loopback (node:net, port 0): every
// malformed or oversized answer is a failed download (DOWNLOAD_FAILED, step -2) naming what was
// wrong, never a crash or a hang; well-formed framings (chunked, close-delimited, TLS) download exactly.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { downloadFile } from '../../agent/download.js';
import { createHttpFetcher } from '../../agent/fetcher.js';
import { FirmwareDigester } from '../../agent/verify.js';
import { systemClock } from '../../shared/clock.js';
import { OtaError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

/** A raw server: `answer` gets the socket once the request head has arrived. */
async function raw(answer: (s: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    let head = '';
    s.on('data', (d) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) answer(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/fw.bin`;
}

async function download(url: string, size: number, o: { timeoutMs?: number; ca?: Buffer } = {}): Promise<{ file: Buffer; digest: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'http-client-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const partPath = join(dir, 'fw.part');
  const digester = new FirmwareDigester(partPath, 'SHA256', undefined);
  const got = await downloadFile({
    url, size, partPath, fetcher: createHttpFetcher({ allowInsecureHttp: true, ...(o.ca ? { ca: o.ca } : {}) }), newDigester: () => digester,
    limits: { retries: 0, backoffBaseMs: 10, backoffMaxMs: 10, timeoutMs: o.timeoutMs ?? 30_000, deadlineAtMs: Date.now() + 120_000, deadlineSec: 120, minBytesPerSec: 0, rateWindowMs: 60_000 },
    attempts: { failedAttempts: 0 }, onAttemptFailed: () => Promise.resolve(), clock: systemClock, sleep: () => Promise.resolve(),
    signal: new AbortController().signal, log: silentLogger(), onBytes: () => undefined,
  }).catch((err: unknown) => {
    if (!(err instanceof OtaError)) throw err;
    throw new Error(`${err.code}: ${err.message} | on disk ${(() => { try { return readFileSync(partPath).length; } catch { return 0; } })()}`);
  });
  void got;
  let found = '';
  await digester.check('0'.repeat(64)).catch((err: unknown) => {
    found = String((err as { found?: string }).found);
  });
  return { file: readFileSync(partPath), digest: found };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));

describe('agent http client refusals', () => {
  it('refuses a response head over 16 KiB', async () => {
    const url = await raw((s) => s.write(`HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(20_000)}`));
    await expect(download(url, 10)).rejects.toThrow(/^DOWNLOAD_FAILED: download failed after 0 retries: network error: response head larger than 16384 bytes \| on disk 0$/);
  });

  it('refuses more than 100 headers', async () => {
    const url = await raw((s) => s.write(`HTTP/1.1 200 OK\r\n${'X-A: 1\r\n'.repeat(101)}Content-Length: 10\r\n\r\n0123456789`));
    await expect(download(url, 10)).rejects.toThrow(/network error: more than 100 response headers \| on disk 0$/);
  });

  it('refuses a malformed status line', async () => {
    const url = await raw((s) => s.end('HTTP/1.1 2OO OK\r\nContent-Length: 1\r\n\r\nx'));
    await expect(download(url, 1)).rejects.toThrow(/network error: malformed status line: "HTTP\/1.1 2OO OK" \| on disk 0$/);
  });

  it('refuses Content-Length beside Transfer-Encoding', async () => {
    const url = await raw((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'));
    await expect(download(url, 3)).rejects.toThrow(/network error: both Transfer-Encoding and Content-Length \| on disk 0$/);
  });

  it('fails on a bad chunk size, keeping the bytes decoded before it', async () => {
    const url = await raw((s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n'));
    await expect(download(url, 6)).rejects.toThrow(/connection lost after 3 bytes: bad chunk size: "zz" \| on disk 3$/);
  });

  it('fails a body shorter than its Content-Length, keeping what arrived', async () => {
    const url = await raw((s) => s.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n'), body.subarray(0, 1200)])));
    await expect(download(url, 3000)).rejects.toThrow(/connection lost after 1200 bytes: connection closed after 1200 of 3000 body bytes \| on disk 1200$/);
  });

  it('takes exactly Content-Length bytes of a body that runs on', async () => {
    const url = await raw((s) => s.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n'), body, Buffer.from('garbage after the body')])));
    const got = await download(url, 3000);
    expect(got.file.equals(body)).toBe(true);
    expect(got.digest).toBe(sha(body));
  });

  it('fails a connection closed inside the head', async () => {
    const url = await raw((s) => s.end('HTTP/1.1 200 OK\r\nContent-Le'));
    await expect(download(url, 10)).rejects.toThrow(/network error: connection closed before the response head \| on disk 0$/);
  });

  it('ends a head that drips one byte at a time at timeoutMs', async () => {
    const url = await raw((s) => {
      const text = `HTTP/1.1 200 OK\r\nX-Slow: ${'a'.repeat(10_000)}\r\n\r\n`;
      let i = 0;
      const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write(text[i++] ?? '')), 20);
      s.on('close', () => clearInterval(t));
    });
    await expect(download(url, 10, { timeoutMs: 600 })).rejects.toThrow(/network error: no response within 600 ms \| on disk 0$/);
  });

  it('decodes a chunked body that arrives a few bytes at a time (extensions, trailer)', async () => {
    const coded = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
      Buffer.from('3e8;name=value\r\n'), body.subarray(0, 1000), Buffer.from('\r\n'),
      Buffer.from('7D0\r\n'), body.subarray(1000), Buffer.from('\r\n0\r\nX-Trailer: t\r\n\r\n'),
    ]);
    const url = await raw((s) => {
      let at = 0;
      const t = setInterval(() => {
        if (at >= coded.length) return clearInterval(t);
        s.write(coded.subarray(at, at + 7));
        at += 7;
      }, 1);
      s.on('close', () => clearInterval(t));
    });
    const got = await download(url, 3000);
    expect(got.file.equals(body)).toBe(true);
    expect(got.digest).toBe(sha(body));
  });

  it('reads a close-delimited body to the end', async () => {
    const url = await raw((s) => s.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'), body])));
    const got = await download(url, 3000);
    expect(got.digest).toBe(sha(body));
  });

  it('gives a reused keep-alive connection the full timeout for its answer (the idle timer is off)', async () => {
    let n = 0;
    const connections = new Set<unknown>();
    const server = createHttpServer((req, res) => {
      connections.add(req.socket);
      // The second answer comes after the pool's 4 s idle timeout would have fired.
      const answer = () => res.writeHead(200, { 'content-length': body.length }).end(body);
      if (++n === 1) answer();
      else setTimeout(answer, 4500);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => { server.closeAllConnections(); server.close(); });
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/fw.bin`;
    const fetcher = createHttpFetcher({ allowInsecureHttp: true });
    for (let i = 0; i < 2; i++) {
      const r = await fetcher(url, { timeoutMs: 30_000 });
      const chunks: Buffer[] = [];
      for await (const c of r.body) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(body)).toBe(true);
    }
    expect(connections.size).toBe(1);
  }, 20_000);

  it('carries many requests on one keep-alive connection without piling listeners on its socket', async () => {
    const connections = new Set<unknown>();
    const server = createHttpServer((req, res) => {
      connections.add(req.socket);
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => { server.closeAllConnections(); server.close(); });
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/fw.bin`;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    cleanup.push(() => process.off('warning', onWarning));
    const fetcher = createHttpFetcher({ allowInsecureHttp: true });
    // An agent's downloads, each with its cancel signal: a listener per request on the shared socket
    // would grow with every download the agent ever made (Node warns past 10).
    for (let i = 0; i < 30; i++) {
      const r = await fetcher(url, { timeoutMs: 30_000, signal: new AbortController().signal });
      const chunks: Buffer[] = [];
      for await (const c of r.body) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(body)).toBe(true);
    }
    // A warning is emitted on the next tick.
    await new Promise((r) => setImmediate(r));
    expect(connections.size).toBe(1);
    expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
  }, 20_000);

  it('downloads over TLS with the configured CA, and refuses a server it does not vouch for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'http-client-tls-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 9);
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.writeHead(200, { 'content-length': big.length }).end(big));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => { server.closeAllConnections(); server.close(); });
    const url = `https://localhost:${(server.address() as { port: number }).port}/fw.bin`;
    const got = await download(url, big.length, { ca: readFileSync(cert) });
    expect(got.digest).toBe(sha(big));
    await expect(download(url, big.length)).rejects.toThrow(/network error: self[- ]signed certificate \| on disk 0$/);
  });
});
