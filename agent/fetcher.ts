// The agent's HTTP port: one GET with an optional Range, answering the status, headers and a body
// stream. The real adapter is the agent's own HTTP/1.1 client (http-conn.ts) over node:net/node:tls
// with the configured CA; plain http only when allowed. Redirects are not followed (a 3xx is an
// answer like any other), as with node:http before it.
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { OtaError } from '../shared/errors.js';
import { BlockPool } from './block-pool.js';
import { HttpConn, type ConnTarget } from './http-conn.js';

export interface FetchResponse {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Readable;
  /** Optional: the body's chunks, once written and digested, go back to be read into again. */
  release?: (chunks: readonly Buffer[]) => void;
}

/** `signal` ends the request (waiting for the answer or reading the body) when it aborts. */
export type Fetcher = (url: string, opts: { rangeStart?: number; timeoutMs: number; signal?: AbortSignal }) => Promise<FetchResponse>;

/** An idle kept-alive connection is closed after this (servers commonly drop them at 5 s or later). */
const IDLE_MS = 4000;
/** Idle connections kept per server. */
const IDLE_PER_SERVER = 4;

export function createHttpFetcher(o: { ca?: Buffer; allowInsecureHttp: boolean }): Fetcher {
  const idle = new Map<string, HttpConn[]>();
  const pool = new BlockPool();

  const take = (key: string, t: ConnTarget): HttpConn => {
    const list = idle.get(key) ?? [];
    for (let c = list.pop(); c; c = list.pop()) if (!c.closed) return c;
    const conn = new HttpConn(t, pool);
    conn.onIdle = (c) => {
      const free = idle.get(key) ?? [];
      if (free.length >= IDLE_PER_SERVER) return c.destroy();
      free.push(c);
      idle.set(key, free);
      // An idle connection neither keeps the agent alive nor lingers.
      c.socket.unref();
      c.socket.setTimeout(IDLE_MS);
    };
    conn.socket.on('close', () => {
      const free = idle.get(key);
      if (free?.includes(conn)) free.splice(free.indexOf(conn), 1);
    });
    return conn;
  };

  return async (url, { rangeStart, timeoutMs, signal }) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new OtaError('UNSAFE_URL', 'download URL is not a URL', { expected: 'an https:// URL' });
    }
    const tls = u.protocol === 'https:';
    if (!tls && !(o.allowInsecureHttp && u.protocol === 'http:')) {
      throw new OtaError('UNSAFE_URL', 'download URL is not HTTPS', { expected: 'an https:// URL (or allowInsecureHttp)' });
    }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const t: ConnTarget = { tls, host, port: Number(u.port || (tls ? 443 : 80)), ...(isIP(host) ? {} : { servername: host }), ...(o.ca ? { ca: o.ca } : {}) };
    const lines = [`GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'Accept: */*', 'Connection: keep-alive'];
    if (u.username || u.password) lines.push(`Authorization: Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`);
    if (rangeStart !== undefined && rangeStart > 0) lines.push(`Range: bytes=${rangeStart}-`);
    const text = `${lines.join('\r\n')}\r\n\r\n`;
    const key = `${t.tls ? 's' : ''}${t.host}:${t.port}`;
    for (let attempt = 0; ; attempt++) {
      const conn = take(key, t);
      // A shutdown must not wait for a server that never answers, nor for the rest of a body.
      const onAbort = () => conn.destroy(new Error('request cancelled'));
      // Each listener goes with its request: a kept-alive socket carries every download the agent makes.
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        conn.socket.off('close', done);
      };
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      conn.socket.once('close', done);
      try {
        const res = await conn.request(text, timeoutMs);
        res.body.once('close', done);
        return res;
      } catch (err) {
        done();
        // A kept-alive connection the server closed before this request reached it: once more on a new one.
        if (conn.requests > 1 && !conn.heardBack && attempt === 0 && !signal?.aborted) continue;
        throw err;
      }
    }
  };
}
