// The lab's OpenAPI endpoint: RPC style over GET or POST (form body), signed V1 or V3, the platform's
// envelope, its gateway checks and its per-API QPS limits. Never answers 500 for bad input, and
// answers transport-level refusals (unparsable request, oversized headers) in the same envelope.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { errorMessage, isOtaError, OtaError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { listenNamed } from '../shared/net-listen.js';
import { apiError, httpStatusOf } from './api-error.js';
import { RpcParamReader } from './api-params.js';
import { ClientGoneError, readRpcRequest } from './api-request.js';
import type { ActionContext, ActionHandler } from './actions/context.js';
import { answerRequest } from './lingering-close.js';
import { RequestAuth } from './request-auth.js';
import { QpsLimiter, type ThrottleSetting } from './throttle.js';

export interface ApiServerOptions {
  host: string;
  port: number;
  clock: Clock;
  log: Logger;
  throttle: ThrottleSetting;
  actions: Readonly<Record<string, ActionHandler>>;
  context: () => Omit<ActionContext, 'params'>;
  /** An enterprise instance's id: every call must name it in IotInstanceId. */
  instanceId?: string;
  /** Called once per request with its action (only a served action's name, never caller bytes) and outcome. */
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
    server.on('clientError', (err, socket) => this.#clientError(err, socket));
    this.#server = server;
    const port = await listenNamed(server, this.#o.host, this.#o.port, 'OpenAPI server', '--api-port');
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
      const request = await readRpcRequest(req);
      const caller = this.#auth.check(request);
      const handler = Object.hasOwn(this.#o.actions, caller.action) ? this.#o.actions[caller.action] : undefined;
      if (!handler) throw apiError('InvalidAction.NotFound', `Specified api ${JSON.stringify(caller.action.slice(0, 64))} is not found, please check your url and method.`, 404);
      action = caller.action;
      if (!this.#limiter.admit(caller.accessKeyId, action)) throw apiError('Throttling.User', 'Request was denied due to user flow control.', 400);
      this.#checkInstance(request.params.IotInstanceId);
      const result = handler({ ...this.#o.context(), params: new RpcParamReader(request.params) });
      body = { RequestId: requestId, Success: true, ...result };
    } catch (err) {
      if (err instanceof ClientGoneError) {
        // The caller went away mid-body: nobody to answer, and nothing wrong with the lab.
        this.#o.log.debug({ err: errorMessage(err) }, 'API client closed the connection before its request was read');
        return;
      }
      const known = isOtaError(err) && typeof err.details.httpStatus === 'number';
      const e = known ? err : new OtaError('iot.system.SystemException', 'An internal error occurred; try again later.', { cause: err });
      if (!known) this.#o.log.error({ action, err: errorMessage(err) }, 'API action failed unexpectedly');
      status = known ? httpStatusOf(e) : 500;
      // A business refusal (HTTP 200) has exactly the model's fields (Code, ErrorMessage); a gateway
      // refusal (4xx) carries Message as the gateway's does, and ErrorMessage too so any client finds it.
      body = { RequestId: requestId, Success: false, Code: e.code, ErrorMessage: e.message, ...(status === 200 ? {} : { Message: e.message }) };
    }
    this.#o.onRequest?.({ action, code: typeof body.Code === 'string' ? body.Code : 'OK', atMs: this.#o.clock.now() });
    const text = JSON.stringify(body);
    // A body refused before it was read to the end: the rest is never parsed; the answer goes out
    // with Connection: close and the connection lingers (what still comes is dropped) so the client
    // reads the answer instead of a reset.
    answerRequest(req, res, { status, headers: { 'Content-Type': 'application/json;charset=utf-8' }, body: text }, this.#o.clock);
  }

  /** An enterprise instance answers only calls that name it (docs/platform.md: iot.system.InstanceNotFound). */
  #checkInstance(given: string | undefined): void {
    const want = this.#o.instanceId;
    if (want === undefined || given === want) return;
    throw apiError('iot.system.InstanceNotFound', given
      ? `The instance ${JSON.stringify(given.slice(0, 64))} does not exist; this account's instance is ${want}.`
      : `This account has no public instance: pass IotInstanceId=${want} with every call.`);
  }

  /** Node's parser refused the request (bad request line, headers over the limit): answer in the envelope when the socket can still take it. */
  #clientError(err: Error & { code?: string }, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      this.#o.log.debug({ err: err.message }, 'API client connection reset');
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const message = tooLarge
      ? 'The request headers are larger than the server accepts (16 KiB).'
      : `The request is not valid HTTP (${err.code ?? 'parse error'}); send an RPC request to "/".`;
    this.#o.onRequest?.({ action: '', code: 'InvalidParameter', atMs: this.#o.clock.now() });
    const text = JSON.stringify({ RequestId: randomUUID().toUpperCase(), Success: false, Code: 'InvalidParameter', ErrorMessage: message, Message: message });
    socket.end(`HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json;charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  }
}
