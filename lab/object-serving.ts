// Serving one object as the object store does: 200 or 206 with Content-Range, 416 for a range past
// the end, HTTP/1.1 with Content-Length (never chunked), ETag and Last-Modified, and the firmware's
// injected faults on the way out.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { faultStream, type FaultState } from './faults.js';
import { ossError } from './http-replies.js';
import type { FileRouteContext } from './file-routes.js';
import type { ObjectHead } from './object-store.js';
import { checkObjectUrl } from './url-signing.js';

/** How far each download reads ahead of its socket: 1 MiB while few run (one large download at full
 *  speed), less as more run at once, so that thousands of devices fetching together hold a bounded
 *  amount (at 1 MiB each, 1,000 concurrent downloads held ~600 MiB in the fleet benchmark). */
export class ReadAhead {
  static readonly TOTAL_BYTES = 64 * 1024 * 1024;
  static readonly MAX_BYTES = 1024 * 1024;
  static readonly MIN_BYTES = 64 * 1024;
  #inFlight = 0;

  /** A download starts: its read-ahead, given how many run now. Call `end()` once it is over. */
  start(): number {
    this.#inFlight++;
    const share = Math.floor(ReadAhead.TOTAL_BYTES / this.#inFlight / ReadAhead.MIN_BYTES) * ReadAhead.MIN_BYTES;
    return Math.min(ReadAhead.MAX_BYTES, Math.max(ReadAhead.MIN_BYTES, share));
  }

  end(): void {
    this.#inFlight--;
  }
}

export async function serveObject(req: IncomingMessage, res: ServerResponse, head: ObjectHead, fault: FaultState | undefined, readAheadBytes: number): Promise<void> {
  const { size } = head;
  const status = fault?.takeError();
  if (status !== undefined) return ossError(res, status, status === 404 ? 'NoSuchKey' : 'InternalError', `injected fault: ${status}`);
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    return ossError(res, 416, 'InvalidRange', 'The requested range cannot be satisfied.', { 'Content-Range': `bytes */${size}` });
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const extra = !range && fault?.plan.extraBytes ? fault.plan.extraBytes : 0;
  const length = end - start + 1 + extra;
  // Names exactly as written here go on the wire (Node keeps the case it is given).
  res.writeHead(range ? 206 : 200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': length,
    ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    'Accept-Ranges': 'bytes',
    'ETag': head.etag,
    'Last-Modified': head.lastModified,
  });
  if (req.method === 'HEAD' || length === 0) return void res.end();
  const cutAfter = fault?.takeClose();
  const flipAt = fault?.takeFlip();
  const stages: NodeJS.ReadWriteStream[] = [];
  if (fault && (flipAt !== undefined || fault.plan.bytesPerSec !== undefined || cutAfter !== undefined || extra > 0)) {
    stages.push(faultStream(fault.plan.bytesPerSec, flipAt, start, cutAfter, extra, res));
  }
  const source = createReadStream(head.file, { start, end, highWaterMark: readAheadBytes });
  try {
    await pipeline(source, ...(stages as [NodeJS.ReadWriteStream]), res);
  } catch {
    res.destroy();
  }
}

export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
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

/** `GET|HEAD /fw/<key>?Expires=…&OSSAccessKeyId=…&Signature=…`: a signed, expiring download. */
export async function getObjectRoute(ctx: FileRouteContext, req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
  const check = checkObjectUrl(ctx.urlKey, url.pathname, url.searchParams, ctx.clock.now());
  if (check === 'expired') return ossError(res, 403, 'AccessDenied', 'Request has expired.');
  if (check === 'bad-signature') return ossError(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
  const key = m[1] as string;
  const head = await ctx.store.head(key);
  if (!head) return ossError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  // Count what left through the socket, not what was read from disk ahead of a cut.
  const socket = req.socket;
  const writtenBefore = socket.bytesWritten;
  const readAheadBytes = ctx.readAhead.start();
  res.once('close', () => {
    ctx.readAhead.end();
    ctx.countServed(socket.bytesWritten - writtenBefore);
  });
  await serveObject(req, res, head, ctx.faultFor(key), readAheadBytes);
}
