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
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > LIMITS.apiBodyMaxBytes) throw apiError('InvalidParameter', `The request body is over ${LIMITS.apiBodyMaxBytes} bytes.`, 413);
    hash.update(chunk);
    chunks.push(chunk);
  }
  let form: Record<string, string> = {};
  if (size > 0) {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      throw apiError('InvalidParameter', `The request body must be application/x-www-form-urlencoded, got ${JSON.stringify(type.slice(0, 80))}.`, 400);
    }
    form = bounded(new URLSearchParams(Buffer.concat(chunks).toString('utf8')), 'form body');
  }
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

function distinctHeaders(req: IncomingMessage): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) if (values) out[name] = values;
  return out;
}
