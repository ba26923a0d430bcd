// The lab's firmware file server: the platform's object store in miniature. Signed, expiring URLs;
// Range requests (206 + Content-Range); per-firmware fault injection; an admin upload endpoint
// guarded by the lab's admin token.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { listenOn } from '../shared/net-listen.js';
import type { FaultState } from './faults.js';
import { checkObjectUrl, signObjectUrl, type UrlSignerKey } from './url-signing.js';

export interface FileServerOptions {
  host: string;
  port: number;
  tls?: { key: Buffer; cert: Buffer };
  objectsDir: string;
  clock: Clock;
  log: Logger;
  urlKey: UrlSignerKey;
  adminToken: string;
  /** The fault plan of the firmware an object belongs to. */
  faultFor: (objectKey: string) => FaultState | undefined;
  /** Set (or with `undefined`, clear) a firmware's faults; returns an error text when refused. */
  setFault: (firmwareId: string, plan: unknown) => string | undefined;
  /** PostObject (a form POSTed to the bucket's root): lab/object-upload.ts. */
  postObject?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

const OBJECT_PREFIX = '/fw/';
const SAFE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

export class FileServer {
  readonly #o: FileServerOptions;
  #server: Server | undefined;
  #base = '';
  #closing: Promise<void> | undefined;
  /** Bytes sent for object downloads (bodies and their headers), for tests that bound re-downloads. */
  bytesServed = 0;

  constructor(options: FileServerOptions) {
    this.#o = options;
  }

  get base(): string {
    return this.#base;
  }

  async listen(): Promise<string> {
    await mkdir(this.#o.objectsDir, { recursive: true });
    const handler = (req: IncomingMessage, res: ServerResponse) => { void this.#handle(req, res); };
    const server = this.#o.tls ? createHttpsServer({ key: this.#o.tls.key, cert: this.#o.tls.cert }, handler) : createHttpServer(handler);
    this.#server = server;
    const port = await listenOn(server, this.#o.host, this.#o.port);
    this.#base = `${this.#o.tls ? 'https' : 'http'}://${this.#o.host}:${port}`;
    return this.#base;
  }

  /** The unsigned URL of an object: what CreateOTAFirmware is given as FirmwareUrl. */
  objectUrl(objectKey: string): string {
    return `${this.#base}${OBJECT_PREFIX}${objectKey}`;
  }

  /** The object key of one of the lab's own URLs (whatever host and port it was made with). */
  static objectKeyOf(url: string): string | undefined {
    const m = /^https?:\/\/[^/]+\/fw\/([A-Za-z0-9._-]+\/[A-Za-z0-9._-]+)$/.exec(url);
    return m?.[1];
  }

  /** A signed URL for one of the lab's objects; any other URL is passed through as it is. */
  signedUrl(url: string, ttlSec: number): string {
    const key = FileServer.objectKeyOf(url);
    if (!key) return url;
    return signObjectUrl(this.#o.urlKey, this.#base, `${OBJECT_PREFIX}${key}`, Math.floor(this.#o.clock.now() / 1000) + ttlSec);
  }

  /** Store a file as a new object (used by the admin endpoint and by the lab's own seeding). */
  async putObject(name: string, body: NodeJS.ReadableStream): Promise<{ key: string; size: number; md5: string; sha256: string }> {
    if (!SAFE_NAME.test(name)) throw new Error(`object name ${JSON.stringify(name)} must be 1-128 letters, digits, ".", "_" or "-"`);
    const key = `${randomBytes(8).toString('hex')}/${name}`;
    const file = join(this.#o.objectsDir, key);
    await mkdir(dirname(file), { recursive: true });
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) { md5.update(chunk); sha256.update(chunk); size += chunk.length; cb(null, chunk); },
    });
    const tmp = `${file}.part`;
    try {
      await pipeline(body, tap, createWriteStream(tmp));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { key, size, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://lab');
      if (url.pathname.startsWith('/admin/')) return await this.#admin(req, res, url);
      if (req.method === 'POST' && url.pathname === '/' && this.#o.postObject) return await this.#o.postObject(req, res);
      if (!url.pathname.startsWith(OBJECT_PREFIX) || (req.method !== 'GET' && req.method !== 'HEAD')) return ossError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      const check = checkObjectUrl(this.#o.urlKey, url.pathname, url.searchParams, this.#o.clock.now());
      if (check === 'expired') return ossError(res, 403, 'AccessDenied', 'Request has expired.');
      if (check === 'bad-signature') return ossError(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
      const key = url.pathname.slice(OBJECT_PREFIX.length);
      if (!/^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/.test(key)) return ossError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      await this.#serveObject(req, res, key);
    } catch (err) {
      this.#o.log.warn({ err: errorMessage(err) }, 'file server request failed');
      if (!res.headersSent) ossError(res, 500, 'InternalError', 'internal error');
      else res.destroy();
    }
  }

  async #serveObject(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const file = join(this.#o.objectsDir, key);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      return ossError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    }
    const fault = this.#o.faultFor(key);
    const status = fault?.takeError();
    if (status !== undefined) return ossError(res, status, status === 404 ? 'NoSuchKey' : 'InternalError', `injected fault: ${status}`);
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${size}` });
      return void res.end();
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const extra = !range && fault?.plan.extraBytes ? fault.plan.extraBytes : 0;
    const length = end - start + 1 + extra;
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': length, 'accept-ranges': 'bytes' };
    if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || length === 0) return void res.end();
    const cutAfter = fault?.takeClose();
    const flipAt = fault?.takeFlip();
    const stages: NodeJS.ReadWriteStream[] = [];
    if (fault && (flipAt !== undefined || fault.plan.bytesPerSec !== undefined || cutAfter !== undefined || extra > 0)) {
      stages.push(faultStream(fault.plan.bytesPerSec, flipAt, start, cutAfter, extra, res));
    }
    const source = createReadStream(file, { start, end, highWaterMark: 1024 * 1024 });
    // Count what left through the socket, not what was read from disk ahead of a cut.
    const socket = req.socket;
    const writtenBefore = socket.bytesWritten;
    res.once('close', () => { this.bytesServed += socket.bytesWritten - writtenBefore; });
    try {
      await pipeline(source, ...(stages as [NodeJS.ReadWriteStream]), res);
    } catch {
      res.destroy();
    }
  }

  async #admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const auth = Buffer.from(req.headers.authorization ?? '');
    const want = Buffer.from(`Bearer ${this.#o.adminToken}`);
    if (auth.length !== want.length || !timingSafeEqual(auth, want)) return json(res, 401, { error: 'admin token missing or wrong' });
    const f = /^\/admin\/faults\/([^/]+)$/.exec(url.pathname);
    if (f && (req.method === 'PUT' || req.method === 'DELETE')) {
      let plan: unknown;
      try {
        plan = req.method === 'PUT' ? JSON.parse((await readBody(req, 64 * 1024)).toString('utf8')) : undefined;
      } catch (err) {
        return json(res, 400, { error: `fault plan is not JSON: ${errorMessage(err)}` });
      }
      const refused = this.#o.setFault(decodeURIComponent(f[1] as string), plan);
      return json(res, refused ? 400 : 200, refused ? { error: refused } : { ok: true });
    }
    const m = /^\/admin\/objects\/([^/]+)$/.exec(url.pathname);
    if (!m || req.method !== 'PUT') return json(res, 404, { error: 'unknown admin endpoint; PUT /admin/objects/<name> or PUT|DELETE /admin/faults/<firmwareId>' });
    try {
      const stored = await this.putObject(decodeURIComponent(m[1] as string), req);
      json(res, 200, { ...stored, url: this.objectUrl(stored.key) });
    } catch (err) {
      json(res, 400, { error: errorMessage(err) });
    }
  }
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new Error(`body over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

function faultStream(bytesPerSec: number | undefined, flipByteAt: number | undefined, startOffset: number, cutAfter: number | undefined, extra: number, res: ServerResponse): Transform {
  let offset = startOffset;
  let sent = 0;
  const began = Date.now();
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let out = chunk;
      if (flipByteAt !== undefined && flipByteAt >= offset && flipByteAt < offset + chunk.length) {
        out = Buffer.from(chunk);
        out[flipByteAt - offset] = (out[flipByteAt - offset] as number) ^ 0xff;
      }
      offset += chunk.length;
      if (cutAfter !== undefined && sent + out.length >= cutAfter) {
        this.push(out.subarray(0, cutAfter - sent));
        sent = cutAfter;
        // Give the socket a moment to carry the bytes, then drop it mid-body.
        setImmediate(() => res.destroy());
        return;
      }
      sent += out.length;
      if (!bytesPerSec) return cb(null, out);
      const dueMs = (sent / bytesPerSec) * 1000 - (Date.now() - began);
      setTimeout(() => cb(null, out), Math.max(0, dueMs));
    },
    flush(cb) {
      if (extra > 0) this.push(Buffer.alloc(extra, 0x5a));
      cb();
    },
  });
}

function ossError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>\n`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
