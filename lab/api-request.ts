// Reading one OpenAPI request off the wire, bounded before anything is kept: the path, the query,
// a form body (POST), the headers V3 signs, and the body's SHA-256. Parameters over the limits are
// refused here, so nothing later (auth, the request log, an action) ever holds a megabyte value.
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { LIMITS } from '../shared/platform-rules.js';
import { apiError } from './api-error.js';

export interface RpcRequest {
  method: string;
  path: string;
  /** Query-string parameters alone (V3 signs them apart from the body). */
  query: Record<string, string>;
  /** Query and form body together, as an action reads them. */
  params: Record<string, string>;
  /** Header values by lower-case name. */
  headers: Record<string, string[]>;
  bodySha256: string;
}

export async function readRpcRequest(req: IncomingMessage): Promise<RpcRequest> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'POST') {
    throw apiError('InvalidParameter', `HTTP method ${JSON.stringify(method.slice(0, 16))} is not supported; use GET or POST.`, 405);
  }
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://lab');
  } catch {
    throw apiError('InvalidParameter', 'The request target is not a valid URL; send RPC requests to "/".', 400);
  }
  if (url.pathname !== '/') throw apiError('InvalidAction.NotFound', `Path ${JSON.stringify(url.pathname.slice(0, 80))} is not an RPC endpoint; send requests to "/".`, 404);
  const query = bounded(url.searchParams, 'query string');
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  const type = req.headers['content-type'] ?? '';
  if (hasBody && !type.startsWith('application/x-www-form-urlencoded')) {
    throw apiError('InvalidParameter', `The request body must be application/x-www-form-urlencoded, got ${JSON.stringify(type.slice(0, 80))}.`, 400);
  }
  const hash = createHash('sha256');
  const guard = new SegmentGuard();
  const chunks: Buffer[] = [];
  let size = 0;
  await readBody(req, (chunk) => {
    size += chunk.length;
    if (size > LIMITS.apiBodyMaxBytes) throw apiError('InvalidParameter', `The request body is over ${LIMITS.apiBodyMaxBytes} bytes.`, 413);
    hash.update(chunk);
    // A parameter over its limit is refused at once: the rest of the body is never read, so an
    // unsigned caller cannot make the lab take in a megabyte per request.
    if (!guard.scan(chunk)) {
      throw apiError('InvalidParameter', `The parameter "${guard.overlong ?? ''}" is longer than the ${LIMITS.apiParamValueMaxChars} characters a parameter may take.`, 400);
    }
    chunks.push(chunk);
  });
  const form = size > 0 ? bounded(new URLSearchParams(Buffer.concat(chunks).toString('utf8')), 'form body') : {};
  const params = { ...query, ...form };
  if (Object.keys(params).length > LIMITS.apiParamsMax) throw apiError('InvalidParameter', `The request has more than ${LIMITS.apiParamsMax} parameters.`, 400);
  return { method, path: url.pathname, query, params, headers: distinctHeaders(req), bodySha256: hash.digest('hex') };
}

function bounded(source: URLSearchParams, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of source) {
    if (++count > LIMITS.apiParamsMax) throw apiError('InvalidParameter', `The ${where} has more than ${LIMITS.apiParamsMax} parameters.`, 400);
    if (name.length > LIMITS.apiParamNameMaxChars) {
      throw apiError('InvalidParameter', `A parameter name in the ${where} is ${name.length} characters long; at most ${LIMITS.apiParamNameMaxChars} are accepted.`, 400);
    }
    const max = name === 'Action' ? LIMITS.apiActionMaxChars : LIMITS.apiParamValueMaxChars;
    if (value.length > max) {
      throw apiError('InvalidParameter', `The parameter "${name}" is ${value.length} characters long; at most ${max} are accepted.`, 400);
    }
    out[name] = value;
  }
  return out;
}

/** The caller closed the connection before its request was read: nobody is left to answer. */
export class ClientGoneError extends Error {
  constructor(cause: unknown) {
    super('the client closed the connection mid-request', { cause });
  }
}

/** Feed each chunk to `onChunk` until the body ends. When `onChunk` throws, reading stops where it
 *  is (the request is paused, not destroyed, so the refusal can still be written). */
function readBody(req: IncomingMessage, onChunk: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = () => { req.off('data', data); req.off('end', end); req.off('error', failed); };
    const data = (chunk: Buffer) => {
      try {
        onChunk(chunk);
      } catch (err) {
        stop();
        req.pause();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const end = () => { stop(); resolve(); };
    const failed = (err: Error) => { stop(); reject(new ClientGoneError(err)); };
    // A request torn down later (after a refusal) must not raise an unheard 'error'.
    req.on('error', () => undefined);
    req.on('data', data);
    req.on('end', end);
    req.on('error', failed);
  });
}

/** Watches a form body as it streams for a `name=value` segment too long to be any parameter,
 *  counting decoded characters (a `%XX` escape is one), and remembers that parameter's name. */
class SegmentGuard {
  static readonly MAX_CHARS = LIMITS.apiParamValueMaxChars + LIMITS.apiParamNameMaxChars + 1;
  #chars = 0;
  #head = '';
  overlong: string | undefined;

  /** False once a segment is over the limit. */
  scan(chunk: Buffer): boolean {
    if (this.overlong !== undefined) return false;
    let start = 0;
    for (;;) {
      const amp = chunk.indexOf(0x26, start);
      const end = amp < 0 ? chunk.length : amp;
      if (this.#head.length < LIMITS.apiParamNameMaxChars) this.#head += chunk.subarray(start, Math.min(end, start + LIMITS.apiParamNameMaxChars)).toString('latin1');
      this.#chars += end - start - 2 * countPercent(chunk, start, end);
      if (this.#chars > SegmentGuard.MAX_CHARS) {
        this.overlong = safeName(this.#head.split('=')[0] ?? '');
        return false;
      }
      if (amp < 0) return true;
      this.#chars = 0;
      this.#head = '';
      start = amp + 1;
    }
  }
}

function countPercent(chunk: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = chunk.indexOf(0x25, start); i >= 0 && i < end; i = chunk.indexOf(0x25, i + 1)) n++;
  return n;
}

function safeName(raw: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    name = raw;
  }
  return name.slice(0, LIMITS.apiParamNameMaxChars);
}

function distinctHeaders(req: IncomingMessage): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) if (values) out[name] = values;
  return out;
}
