// The agent's HTTP port: one GET with an optional Range, answering the status, headers and a body
// stream. The real adapter is node:http(s) with the configured CA; plain http only when allowed.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { OtaError } from '../shared/errors.js';

export interface FetchResponse {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Readable;
}

/** `signal` ends the request (waiting for the answer or reading the body) when it aborts. */
export type Fetcher = (url: string, opts: { rangeStart?: number; timeoutMs: number; signal?: AbortSignal }) => Promise<FetchResponse>;

export function createHttpFetcher(o: { ca?: Buffer; allowInsecureHttp: boolean }): Fetcher {
  return (url, { rangeStart, timeoutMs, signal }) => new Promise((resolve, reject) => {
    const https = url.startsWith('https://');
    if (!https && !(o.allowInsecureHttp && url.startsWith('http://'))) {
      reject(new OtaError('UNSAFE_URL', 'download URL is not HTTPS', { expected: 'an https:// URL (or allowInsecureHttp)' }));
      return;
    }
    const headers: Record<string, string> = {};
    if (rangeStart !== undefined && rangeStart > 0) headers.range = `bytes=${rangeStart}-`;
    const req = (https ? httpsRequest : httpRequest)(url, { method: 'GET', headers, ...(https && o.ca ? { ca: o.ca } : {}) }, (res: IncomingMessage) => {
      // An idle socket mid-body is a network error, not a hang. The socket is kept alive and reused
      // by later downloads, so the listener goes when this response does (or they pile up on it).
      const socket = res.socket;
      const onIdle = () => res.destroy(new Error(`no data for ${timeoutMs} ms`));
      socket.setTimeout(timeoutMs);
      socket.on('timeout', onIdle);
      res.once('close', () => { socket.off('timeout', onIdle); socket.setTimeout(0); });
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (signal) {
      // A shutdown must not wait for a server that never answers.
      const onAbort = () => req.destroy(new Error('request cancelled'));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      req.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    req.end();
  });
}
