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

export type Fetcher = (url: string, opts: { rangeStart?: number; timeoutMs: number }) => Promise<FetchResponse>;

export function createHttpFetcher(o: { ca?: Buffer; allowInsecureHttp: boolean }): Fetcher {
  return (url, { rangeStart, timeoutMs }) => new Promise((resolve, reject) => {
    const https = url.startsWith('https://');
    if (!https && !(o.allowInsecureHttp && url.startsWith('http://'))) {
      reject(new OtaError('UNSAFE_URL', 'download URL is not HTTPS', { expected: 'an https:// URL (or allowInsecureHttp)' }));
      return;
    }
    const headers: Record<string, string> = {};
    if (rangeStart !== undefined && rangeStart > 0) headers.range = `bytes=${rangeStart}-`;
    const req = (https ? httpsRequest : httpRequest)(url, { method: 'GET', headers, ...(https && o.ca ? { ca: o.ca } : {}) }, (res: IncomingMessage) => {
      // An idle socket mid-body is a network error, not a hang.
      res.socket.setTimeout(timeoutMs, () => res.destroy(new Error(`no data for ${timeoutMs} ms`)));
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
