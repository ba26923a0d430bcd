// The lab's OpenAPI endpoint: RPC style over GET or POST (form body), the platform's envelope, its
// gateway checks and its per-API QPS limits. Never answers 500 for bad input.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { errorMessage, isOtaError, OtaError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { listenOn } from '../shared/net-listen.js';
import { apiError, httpStatusOf } from './api-error.js';
import { RpcParamReader } from './api-params.js';
import type { ActionContext, ActionHandler } from './actions/context.js';
import { RequestAuth } from './request-auth.js';
import { QpsLimiter, type ThrottleSetting } from './throttle.js';

const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiServerOptions {
  host: string;
  port: number;
  clock: Clock;
  log: Logger;
  throttle: ThrottleSetting;
  actions: Readonly<Record<string, ActionHandler>>;
  context: () => Omit<ActionContext, 'params'>;
  /** Called once per request with its action and outcome: the lab counts requests for benchmarks. */
  onRequest?: (entry: { action: string; code: string; atMs: number }) => void;
}

export class ApiServer {
  readonly #o: ApiServerOptions;
  readonly #auth: RequestAuth;
  readonly #limiter: QpsLimiter;
  #server: Server | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: ApiServerOptions) {
    this.#o = options;
    this.#auth = new RequestAuth(options.clock, () => options.context().store.state.accessKeys);
    this.#limiter = new QpsLimiter(options.throttle, options.clock);
  }

  async listen(): Promise<string> {
    const server = createServer((req, res) => { void this.#handle(req, res); });
    server.keepAliveTimeout = 5000;
    this.#server = server;
    const port = await listenOn(server, this.#o.host, this.#o.port);
    return `http://${this.#o.host}:${port}`;
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
    const requestId = randomUUID().toUpperCase();
    let action = '';
    let body: Record<string, unknown>;
    let status = 200;
    try {
      const params = await readParams(req);
      action = params.Action ?? '';
      const accessKeyId = this.#auth.check(req.method ?? 'GET', params);
      const handler = Object.hasOwn(this.#o.actions, action) ? this.#o.actions[action] : undefined;
      if (!handler) throw apiError('InvalidAction.NotFound', `Specified api ${JSON.stringify(action)} is not found, please check your url and method.`, 404);
      if (!this.#limiter.admit(accessKeyId, action)) throw apiError('Throttling.User', 'Request was denied due to user flow control.', 400);
      const result = handler({ ...this.#o.context(), params: new RpcParamReader(params) });
      body = { RequestId: requestId, Success: true, ...result };
    } catch (err) {
      const known = isOtaError(err) && typeof err.details.httpStatus === 'number';
      const e = known ? err : new OtaError('iot.system.SystemException', 'An internal error occurred; try again later.', { cause: err });
      if (!known) this.#o.log.error({ action, err: errorMessage(err) }, 'API action failed unexpectedly');
      status = known ? httpStatusOf(e) : 500;
      // Gateway errors carry Message, IoT errors ErrorMessage; both are set so any client finds it.
      body = { RequestId: requestId, Success: false, Code: e.code, ErrorMessage: e.message, Message: e.message };
    }
    this.#o.onRequest?.({ action, code: typeof body.Code === 'string' ? body.Code : 'OK', atMs: this.#o.clock.now() });
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}

async function readParams(req: IncomingMessage): Promise<Record<string, string>> {
  const url = new URL(req.url ?? '/', 'http://lab');
  if (url.pathname !== '/') throw apiError('InvalidAction.NotFound', `Path ${JSON.stringify(url.pathname)} is not an RPC endpoint; send requests to "/".`, 404);
  const params: Record<string, string> = Object.fromEntries(url.searchParams);
  if (req.method === 'POST') {
    const type = req.headers['content-type'] ?? '';
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw apiError('InvalidParameter', `The request body is over ${MAX_BODY_BYTES} bytes.`, 400);
      chunks.push(chunk);
    }
    if (size > 0) {
      if (!type.startsWith('application/x-www-form-urlencoded')) {
        throw apiError('InvalidParameter', `The request body must be application/x-www-form-urlencoded, got ${JSON.stringify(type)}.`, 400);
      }
      Object.assign(params, Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    }
  } else if (req.method !== 'GET') {
    throw apiError('InvalidParameter', `HTTP method ${JSON.stringify(req.method)} is not supported; use GET or POST.`, 405);
  }
  return params;
}
