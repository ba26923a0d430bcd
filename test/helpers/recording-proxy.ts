// An HTTP proxy in front of the lab's OpenAPI that records every request's parameters (query and form
// body, as the platform reads them) and can refuse some requests the way the platform refuses a
// parameter: the test then checks what the platform side received, not what the client meant to send.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  action: string;
  params: Record<string, string>;
}

export interface RecordingProxy {
  url: string;
  requests: RecordedRequest[];
  /** Return a platform error code to refuse the request (it never reaches the lab). */
  refuse: (r: RecordedRequest) => string | undefined;
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const to = new URL(target);
  const proxy: RecordingProxy = { url: '', requests: [], refuse: () => undefined, close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const params: Record<string, string> = {};
      const url = new URL(req.url ?? '/', 'http://x');
      for (const [k, v] of url.searchParams) params[k] = v;
      if (/x-www-form-urlencoded/.test(String(req.headers['content-type']))) for (const [k, v] of new URLSearchParams(body.toString())) params[k] = v;
      const rec = { action: params.Action ?? req.headers['x-acs-action']?.toString() ?? '', params };
      proxy.requests.push(rec);
      const code = proxy.refuse(rec);
      if (code) {
        const text = JSON.stringify({ RequestId: 'proxy-refusal', Success: false, Code: code, ErrorMessage: `refused by the test proxy: ${code}`, Message: `refused by the test proxy: ${code}` });
        res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      const up = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return proxy;
}
