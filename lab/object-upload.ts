// PostObject for the lab's object store: what GenerateOTAUploadURL's policy is for. A multipart form
// posted to the bucket's host (`key`, `policy`, `OSSAccessKeyId`, `Signature`,
// `success_action_status`, then `file`) is checked like the object store checks it (signature,
// expiry, key and size conditions), streamed to disk (never held in memory), and refusals come back
// as the store's XML error. Objects never registered with CreateOTAFirmware are purged after an hour.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Busboy, type BusboyFileStream, type BusboyHeaders } from '@fastify/busboy';
import type { Clock, TimerHandle } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { answerRequest } from './lingering-close.js';
import { checkConditions, issuePolicy, verifyPolicy, type StoreRefusal } from './post-policy.js';
import type { UrlSignerKey } from './url-signing.js';

export interface ObjectUploadOptions {
  objectsDir: string;
  clock: Clock;
  log: Logger;
  key: UrlSignerKey;
  /** The store's origin (the file server's base URL), known once it listens. */
  base: () => string;
  /** The unsigned URL of an object, as CreateOTAFirmware is given it. */
  objectUrl: (objectKey: string) => string;
  /** True once a firmware refers to the object: it is kept for good. */
  isRegistered: (objectKey: string) => boolean;
  maxBytes: number;
  policyTtlMs: number;
  purgeAfterMs: number;
}

export interface UploadGrant {
  Host: string;
  Key: string;
  Policy: string;
  OSSAccessKeyId: string;
  Signature: string;
  FirmwareUrl: string;
  ObjectStorage: 'OSS';
  UtcCreate: string;
}

/** Uploaded objects live under keys `up<hex>/<hex>[.suffix]`, so a restarted lab can find them. */
const UPLOAD_DIR = /^up[0-9a-f]{16}$/;
/** Form fields before the file: a handful of short values (the store allows 8 MB; the lab needs less). */
const FORM_LIMITS = { fields: 32, fieldSize: 16 * 1024, fieldNameSize: 100, files: 1, parts: 40, headerPairs: 20 };
/** Multipart framing around the file, for refusing a declared Content-Length before reading it. */
const FORM_OVERHEAD_MAX = 256 * 1024;
const PURGE_EVERY_MS = 5 * 60_000;

export class ObjectUploads {
  readonly #o: ObjectUploadOptions;
  /** Object key → when it was stored (clock ms); dropped once registered or purged. */
  readonly #pending = new Map<string, number>();
  #timer: TimerHandle | undefined;
  #purging: Promise<string[]> | undefined;
  #closed = false;

  constructor(options: ObjectUploadOptions) {
    this.#o = options;
  }

  /** GenerateOTAUploadURL: a fresh key and a one-minute policy bound to it. */
  grant(fileSuffix: string | undefined): UploadGrant {
    const objectKey = `up${randomBytes(8).toString('hex')}/${randomBytes(8).toString('hex')}${fileSuffix ? `.${fileSuffix}` : ''}`;
    const now = this.#o.clock.now();
    const { policy, signature } = issuePolicy(this.#o.key, objectKey, now, this.#o.policyTtlMs, this.#o.maxBytes);
    return {
      Host: this.#o.base(), Key: objectKey, Policy: policy, OSSAccessKeyId: this.#o.key.accessKeyId, Signature: signature,
      FirmwareUrl: this.#o.objectUrl(objectKey), ObjectStorage: 'OSS', UtcCreate: new Date(now).toISOString(),
    };
  }

  /** Adopt uploads left by an earlier run (they get a full hour from now) and start the purge timer. */
  async start(): Promise<void> {
    await mkdir(this.#o.objectsDir, { recursive: true });
    for (const dir of await readdir(this.#o.objectsDir)) {
      if (!UPLOAD_DIR.test(dir)) continue;
      for (const name of await readdir(join(this.#o.objectsDir, dir))) {
        if (!name.endsWith('.part')) this.#pending.set(`${dir}/${name}`, this.#o.clock.now());
      }
    }
    this.#arm();
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
  }

  /** Remove every upload older than the limit that no firmware refers to; answers the keys removed. */
  purge(): Promise<string[]> {
    this.#purging ??= this.#purgeNow().finally(() => { this.#purging = undefined; });
    return this.#purging;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID().replace(/-/g, '').slice(0, 24).toUpperCase();
    const refuse = (r: StoreRefusal) => storeError(req, res, r, requestId, new URL(this.#o.base()).host, this.#o.clock);
    const type = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data;.*boundary=/i.test(type)) return refuse({ status: 400, code: 'InvalidArgument', message: 'The request Content-Type must be multipart/form-data; boundary=….' });
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > this.#o.maxBytes + FORM_OVERHEAD_MAX) return refuse(tooLarge(this.#o.maxBytes));
    let form: ReturnType<typeof Busboy>;
    try {
      form = Busboy({ headers: req.headers as BusboyHeaders, limits: FORM_LIMITS });
    } catch (err) {
      return refuse({ status: 400, code: 'InvalidArgument', message: `The form cannot be read: ${errorMessage(err)}.` });
    }
    const fields = new Map<string, string>();
    const outcome = new Promise<StoreRefusal | { objectKey: string; md5: string; size: number }>((resolve) => {
      let fileSeen = false;
      form.on('field', (name, value, _nameCut, valueCut) => {
        // Fields after the file are not part of the request, as in the store; names are case-insensitive.
        if (fileSeen) return;
        if (valueCut) resolve({ status: 400, code: 'InvalidArgument', message: `Form field ${JSON.stringify(name.slice(0, 40))} is over ${FORM_LIMITS.fieldSize} bytes.` });
        else fields.set(name.toLowerCase(), value);
      });
      form.on('file', (name, stream) => {
        if (fileSeen || name.toLowerCase() !== 'file') return void stream.resume();
        fileSeen = true;
        // A client that goes away mid-file ends the parse without ending the file: end it here, so
        // the partial file is removed and nothing waits forever. Destroyed without an error: the
        // write's pipeline fails on the early close, and a refused (resumed) file has no listener
        // an error could reach, which would take the whole lab down.
        req.once('close', () => { if (!req.complete) stream.destroy(); });
        this.#store(stream, fields).then(resolve, (err: unknown) => resolve(err instanceof StoreRefused ? err.refusal : internal(err, this.#o.log)));
      });
      form.on('finish', () => { if (!fileSeen) resolve({ status: 400, code: 'InvalidArgument', message: 'The form has no "file" field (it must come last).' }); });
      form.on('error', (err) => resolve({ status: 400, code: 'MalformedPOSTRequest', message: `The body of your POST request is not well-formed multipart/form-data: ${errorMessage(err)}.` }));
      req.on('close', () => { if (!req.complete) resolve({ status: 400, code: 'IncompleteBody', message: 'The request ended before the whole body arrived.' }); });
    });
    req.pipe(form);
    const done = await outcome;
    if ('code' in done) {
      req.unpipe(form);
      return refuse(done);
    }
    this.#pending.set(done.objectKey, this.#o.clock.now());
    const status = ['200', '201'].includes(fields.get('success_action_status') ?? '') ? Number(fields.get('success_action_status')) : 204;
    const body = status === 201 ? `<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Bucket>lab</Bucket><Key>${xml(done.objectKey)}</Key><ETag>"${done.md5.toUpperCase()}"</ETag><Location>${xml(this.#o.objectUrl(done.objectKey))}</Location></PostResponse>\n` : '';
    res.writeHead(status, { etag: `"${done.md5.toUpperCase()}"`, 'x-oss-request-id': requestId, 'content-length': Buffer.byteLength(body), ...(body ? { 'content-type': 'application/xml' } : {}) });
    res.end(body);
  }

  /** The file part: conditions first, then stream to a `.part` file, counting and hashing. */
  async #store(stream: BusboyFileStream, fields: ReadonlyMap<string, string>): Promise<{ objectKey: string; md5: string; size: number }> {
    const policy = verifyPolicy(this.#o.key, fields);
    const objectKey = fields.get('key') ?? '';
    const bad = 'code' in policy ? policy : checkConditions(policy, fields, this.#o.clock.now(), 'lab')
      ?? (/^[A-Za-z0-9._-]{1,64}\/[A-Za-z0-9._-]{1,128}$/.test(objectKey) && !objectKey.includes('..') ? undefined
        : { status: 400, code: 'InvalidObjectName', message: `The key ${JSON.stringify(objectKey.slice(0, 80))} is not an object name this store takes.` });
    if (bad) {
      // Not read further: the answer goes out and the connection closes.
      stream.resume();
      throw new StoreRefused(bad);
    }
    if ('code' in policy) throw new StoreRefused(policy);
    const max = Math.min(policy.maxBytes, this.#o.maxBytes);
    const file = join(this.#o.objectsDir, objectKey);
    const tmp = `${file}.${randomBytes(4).toString('hex')}.part`;
    await mkdir(dirname(file), { recursive: true });
    const md5 = createHash('md5');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > max) return cb(new StoreRefused(tooLarge(max)));
        md5.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(stream, count, createWriteStream(tmp));
      if (size < policy.minBytes) throw new StoreRefused({ status: 400, code: 'EntityTooSmall', message: `Your proposed upload is smaller than the minimum allowed size (${policy.minBytes} bytes).` });
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { objectKey, md5: md5.digest('hex'), size };
  }

  #arm(): void {
    if (this.#closed) return;
    this.#timer = this.#o.clock.setTimer(PURGE_EVERY_MS, () => {
      void this.purge().catch((err: unknown) => this.#o.log.warn({ err: errorMessage(err) }, 'purging unregistered uploads failed')).finally(() => this.#arm());
    });
  }

  async #purgeNow(): Promise<string[]> {
    const removed: string[] = [];
    const now = this.#o.clock.now();
    for (const [objectKey, atMs] of [...this.#pending]) {
      if (this.#o.isRegistered(objectKey)) { this.#pending.delete(objectKey); continue; }
      if (now - atMs < this.#o.purgeAfterMs) continue;
      this.#pending.delete(objectKey);
      const dir = join(this.#o.objectsDir, dirname(objectKey));
      await rm(join(this.#o.objectsDir, objectKey), { force: true });
      // Each upload has a folder of its own: remove it when nothing else is in it.
      if ((await readdir(dir).catch(() => ['?'])).length === 0) await rm(dir, { recursive: true, force: true });
      removed.push(objectKey);
    }
    if (removed.length) this.#o.log.info({ removed }, 'purged uploads never registered with CreateOTAFirmware');
    return removed;
  }
}

function tooLarge(maxBytes: number): StoreRefusal {
  return { status: 400, code: 'EntityTooLarge', message: `Your proposed upload exceeds the maximum allowed size (${maxBytes} bytes).` };
}

/** A refusal thrown out of the streaming steps, to be answered as the store's XML error. */
class StoreRefused extends Error {
  constructor(readonly refusal: StoreRefusal) {
    super(refusal.message);
  }
}

function internal(err: unknown, log: Logger): StoreRefusal {
  log.warn({ err: errorMessage(err) }, 'storing an upload failed');
  return { status: 500, code: 'InternalError', message: 'We encountered an internal error storing the object. Please try again.' };
}

function xml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The store's XML error. A request refused before its body was read to the end is answered at
 *  once, with Connection: close, and lingers (lab/lingering-close.ts): a client still sending reads
 *  the answer instead of a broken pipe, and the rest of its body is dropped, never kept. */
function storeError(req: IncomingMessage, res: ServerResponse, r: StoreRefusal, requestId: string, hostId: string, clock: Clock): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>${r.code}</Code>\n  <Message>${xml(r.message)}</Message>\n  <RequestId>${requestId}</RequestId>\n  <HostId>${xml(hostId)}</HostId>\n</Error>\n`;
  if (res.headersSent) return void res.destroy();
  answerRequest(req, res, { status: r.status, headers: { 'content-type': 'application/xml', 'x-oss-request-id': requestId }, body }, clock);
}
