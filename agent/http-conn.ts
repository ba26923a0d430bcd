// One HTTP/1.1 connection of the agent's fetcher, reading the way a large download wants: the kernel
// reads straight into the free tail of a 1 MiB block (the socket's `onread` option) and the body is
// handed on as views of those blocks. node:http copied every body chunk into a new Buffer, which
// cost more CPU than hashing the bytes. A body stream that is not read pauses the socket, so memory
// stays bounded by a few blocks whatever the server's speed.
import { connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { MIN_BLOCK_BYTES, blockBytesFor, type BlockPool } from './block-pool.js';
import { ResponseBody } from './response-body.js';
import { ChunkedDecoder, MalformedResponse, framing, headEnd, keepsAlive, parseHead, type Framing, type ResponseHead } from './http-head.js';

/** Interim (1xx) responses skipped before the real one. */
const MAX_INTERIM = 8;

export interface ConnTarget {
  tls: boolean;
  host: string;
  port: number;
  servername?: string;
  ca?: Buffer;
}

export interface ConnResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Readable;
  /** Gives body chunks back once written and digested: their blocks are read into again. */
  release: (chunks: readonly Buffer[]) => void;
}

interface Exchange {
  timeoutMs: number;
  resolve: (r: ConnResponse) => void;
  reject: (err: Error) => void;
  headTimer: NodeJS.Timeout;
  head: Buffer[];
  headBytes: number;
  interim: number;
  response?: ResponseHead;
  framing?: Framing;
  body?: ResponseBody;
  received: number;
  chunked?: ChunkedDecoder;
}

export class HttpConn {
  readonly socket: Socket;
  /** The block reads go into; none while the connection is idle (taken at its next read). */
  #block: Buffer | undefined;
  #used = 0;
  #ex: Exchange | undefined;
  #closed = false;
  /** Whether the server sent any byte for the current request (a reused connection that closed before may be retried). */
  heardBack = false;
  /** Requests sent on this connection. */
  requests = 0;
  /** Called when a response is fully read and the connection can carry another request. */
  onIdle: (conn: HttpConn) => void = () => undefined;

  constructor(t: ConnTarget, private readonly pool: BlockPool) {
    const onread = { buffer: () => this.#tail(), callback: (n: number, buf: Uint8Array) => this.#onData(buf as Buffer, n) };
    // node:tls takes `onread` like node:net (the typings lack it).
    const tlsOptions: ConnectionOptions & { onread: OnReadOpts } = { host: t.host, port: t.port, servername: t.servername, ca: t.ca, onread, ALPNProtocols: ['http/1.1'] };
    this.socket = t.tls ? tlsConnect(tlsOptions) : netConnect({ host: t.host, port: t.port, onread });
    this.socket.on('error', (err) => this.#fail(err));
    this.socket.on('end', () => this.#onEnd());
    this.socket.on('close', () => {
      this.#onEnd();
      this.#dropBlock();
    });
    this.socket.on('timeout', () => this.#fail(new Error(`no data for ${this.#ex?.timeoutMs ?? 0} ms`)));
  }

  get closed(): boolean {
    return this.#closed || this.socket.destroyed;
  }

  /** Sends one GET; resolves with the head and a body stream, or rejects (plain Errors: network or protocol). */
  request(text: string, timeoutMs: number): Promise<ConnResponse> {
    return new Promise((resolve, reject) => {
      const headTimer = setTimeout(() => this.#fail(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
      this.#ex = { timeoutMs, resolve, reject, headTimer, head: [], headBytes: 0, interim: 0, received: 0 };
      this.heardBack = false;
      this.requests++;
      // A reused connection had the pool's idle timeout: the head has its own deadline above.
      this.socket.setTimeout(0);
      this.socket.ref();
      this.socket.resume();
      this.socket.write(text);
    });
  }

  /** Ends the connection and whatever exchange is on it. */
  destroy(err?: Error): void {
    this.#fail(err ?? new Error('request cancelled'));
  }

  #tail(): Buffer {
    // A read is given at least a smallest block's room; a block with less left is left to its readers.
    if (!this.#block || this.#block.length - this.#used < MIN_BLOCK_BYTES) {
      this.#dropBlock();
      this.#block = this.pool.take(this.#blockBytes());
    }
    return this.#block.subarray(this.#used);
  }

  /** The head comes in a small block; a body in blocks sized to what is left of it. */
  #blockBytes(): number {
    const ex = this.#ex;
    if (!ex?.framing) return MIN_BLOCK_BYTES;
    return ex.framing.kind === 'length' ? blockBytesFor(ex.framing.bytes - ex.received) : blockBytesFor(Infinity);
  }

  /** The current block gets no more reads: it is reused once its readers gave back what they took. */
  #dropBlock(): void {
    if (this.#block) this.pool.retire(this.#block);
    this.#block = undefined;
    this.#used = 0;
  }

  /** One read: `n` bytes at the start of the tail handed out. Returning false pauses the socket. */
  #onData(buf: Buffer, n: number): boolean {
    const chunk = buf.subarray(0, n);
    this.#used += n;
    const ex = this.#ex;
    this.heardBack = true;
    if (!ex) {
      // Bytes nobody asked for on an idle connection: it cannot be trusted with a request.
      this.#fail(new MalformedResponse('data on an idle connection'));
      return false;
    }
    try {
      return ex.body ? this.#onBody(ex, chunk) : this.#onHead(ex, chunk);
    } catch (err) {
      this.#fail(err as Error);
      return false;
    }
  }

  #onHead(ex: Exchange, chunk: Buffer): boolean {
    ex.head.push(chunk);
    ex.headBytes += chunk.length;
    // The usual case is a head in one read: no copy; a head in pieces is joined (it is small).
    const bytes = ex.head.length === 1 ? chunk : Buffer.concat(ex.head, ex.headBytes);
    const end = headEnd(bytes);
    if (end < 0) {
      // Kept as a copy: the read block it came in may be reused before the head is complete.
      ex.head = [ex.head.length === 1 ? Buffer.from(bytes) : bytes];
      return true;
    }
    const head = parseHead(bytes.subarray(0, end));
    const rest = bytes.subarray(end);
    ex.head = [];
    ex.headBytes = 0;
    if (head.status < 200) {
      if (head.status === 101 || ++ex.interim > MAX_INTERIM) throw new MalformedResponse(`unexpected HTTP ${head.status}`);
      return rest.length > 0 ? this.#onHead(ex, rest) : true;
    }
    clearTimeout(ex.headTimer);
    ex.response = head;
    ex.framing = framing(head);
    if (ex.framing.kind === 'chunked') ex.chunked = new ChunkedDecoder();
    ex.body = new ResponseBody(this.socket, () => this.socket.resume(), (err) => {
      if (this.#ex === ex) this.#fail(err ?? new Error('response body closed before its end'));
    });
    this.socket.setTimeout(ex.timeoutMs);
    ex.resolve({ status: head.status, headers: head.headers, body: ex.body, release: (chunks) => this.pool.release(chunks) });
    return this.#onBody(ex, rest);
  }

  #onBody(ex: Exchange, chunk: Buffer): boolean {
    const body = ex.body as ResponseBody;
    const f = ex.framing as Framing;
    let more = true;
    let used = chunk.length;
    if (ex.chunked) {
      const out: Buffer[] = [];
      let malformed: Error | undefined;
      try {
        used = ex.chunked.feed(chunk, out);
      } catch (err) {
        malformed = err as Error;
      }
      // The data decoded before a coding error still goes to disk (the resume starts after it).
      for (const b of out) {
        this.pool.handOut(b);
        more = body.push(b) && more;
      }
      ex.received += out.reduce((s, b) => s + b.length, 0);
      if (malformed) throw malformed;
    } else {
      if (f.kind === 'length') used = Math.min(chunk.length, f.bytes - ex.received);
      ex.received += used;
      if (used > 0) {
        const b = used === chunk.length ? chunk : chunk.subarray(0, used);
        this.pool.handOut(b);
        more = body.push(b);
      }
    }
    const done = ex.chunked ? ex.chunked.done : f.kind === 'length' && ex.received === f.bytes;
    if (!done) return more;
    this.#ex = undefined;
    this.#dropBlock();
    this.socket.setTimeout(0);
    body.push(null);
    // Bytes past the end of the body are not ours to read: such a connection is not reused.
    if (used < chunk.length || !keepsAlive(ex.response as ResponseHead, f)) {
      this.#closed = true;
      this.socket.destroy();
    } else {
      this.onIdle(this);
    }
    return true;
  }

  #onEnd(): void {
    const ex = this.#ex;
    this.#closed = true;
    if (ex?.body && ex.framing?.kind === 'close') {
      this.#ex = undefined;
      this.socket.setTimeout(0);
      ex.body.push(null);
      return;
    }
    if (!ex) return;
    const f = ex.framing;
    const what = !ex.body
      ? 'connection closed before the response head'
      : f?.kind === 'length'
        ? `connection closed after ${ex.received} of ${f.bytes} body bytes`
        : 'connection closed inside a chunked body';
    this.#fail(new Error(what));
  }

  #fail(err: Error): void {
    this.#closed = true;
    const ex = this.#ex;
    this.#ex = undefined;
    this.socket.destroy();
    if (!ex) return;
    clearTimeout(ex.headTimer);
    if (ex.body) ex.body.cut(err);
    else ex.reject(err);
  }
}
