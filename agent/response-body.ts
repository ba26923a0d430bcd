// The body of a response from the agent's HTTP client: the chunks as read (views of the read
// blocks, in object mode so no read() joins them into a copy), a bounded number held before the
// socket pauses, and a cut that reaches the reader only after the chunks that came before it.
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';

/** Body chunks buffered before the socket pauses (each at most one read). */
const BODY_CHUNKS = 8;

/** The body stream; `socket` is the connection it came on. */
export class ResponseBody extends Readable {
  constructor(readonly socket: Socket, private readonly onRead: () => void, private readonly onDestroy: (err: Error | null) => void) {
    super({ objectMode: true, highWaterMark: BODY_CHUNKS });
    // A cut may come while the reader is away (opening the part file): the error stays on the
    // stream (its reader gets it), and is never an uncaught exception.
    this.on('error', () => undefined);
  }

  #cut: Error | undefined;

  /** The connection broke: the chunks that arrived before still reach the reader (they go to disk), then the error. */
  cut(err: Error): void {
    if (this.destroyed) return;
    if (this.readableLength === 0) this.destroy(err);
    else this.#cut = err;
  }

  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    const err = this.#cut;
    if (err && this.readableLength === 0) {
      this.#cut = undefined;
      // After the reader has this chunk in hand.
      process.nextTick(() => this.destroy(err));
    }
    return chunk;
  }

  override _read(): void {
    this.onRead();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.onDestroy(err);
    cb(err);
  }
}
