// A lingering close, as nginx's `lingering_close` and Apache's: for an answer sent before the
// request's body was read to the end. Closing a TCP socket with unread bytes in its receive queue
// (or with bytes still arriving) makes the kernel send RST, and a client still writing its body
// then gets EPIPE/ECONNRESET instead of the answer it was sent. So the answer goes out with
// `Connection: close`, the write side is shut down (the client sees FIN after the answer), and what
// the client still sends is read and dropped, within bounds, before the socket is closed.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../shared/clock.js';

/** At most this much of a refused body is read and dropped: a client uploading more has had its
 *  answer for a while and is reset, so a refusal never costs the lab more than this in traffic.
 *  Nothing dropped is kept, but Node's HTTP parser hands each chunk over in a Buffer of its own,
 *  which V8 frees at its next collection: RSS can run ahead by tens of MiB between two. */
export const LINGER_MAX_BYTES = 16 * 1024 * 1024;
/** The longest pause between two reads (nginx: 5 s): a client that stalls has stopped sending, and
 *  a refused connection should not hold a socket for long. */
export const LINGER_IDLE_MS = 2000;
/** The longest a refused connection lingers in all (nginx: 30 s), so a client dripping a byte now
 *  and then cannot keep it open; 16 MiB on any link the lab serves fits in well under this. */
export const LINGER_TOTAL_MS = 10_000;

export interface EarlyAnswer {
  status: number;
  /** Header lines as written (the caller's canonical case); `Content-Length` and `Connection` are added. */
  headers: Readonly<Record<string, string>>;
  body: string;
}

/** Answer a request whose body was not read to the end, then linger: read and drop what the client
 *  still sends until its body ends, it closes, or a bound is passed (then the socket is destroyed).
 *  The answer is written on the socket itself: Node's HTTP server destroys the socket as soon as a
 *  `Connection: close` response finishes, which is the reset this module exists to avoid. Nothing
 *  read is kept, and every timer goes with the socket (a server's closeAllConnections ends it). */
export function answerThenLinger(req: IncomingMessage, answer: EarlyAnswer, clock: Clock): void {
  const socket = req.socket;
  // The request is torn down with the socket; with no listener its 'error' would be unheard anyway.
  req.on('error', () => undefined);
  if (socket.destroyed || !socket.writable) return void socket.destroy();
  const head = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}`];
  for (const [name, value] of Object.entries(answer.headers)) head.push(`${name}: ${value}`);
  head.push(`Date: ${new Date(clock.now()).toUTCString()}`, `Content-Length: ${Buffer.byteLength(answer.body)}`, 'Connection: close');
  socket.end(`${head.join('\r\n')}\r\n\r\n${answer.body}`);

  const startedMs = clock.now();
  let lastReadMs = startedMs;
  let dropped = 0;
  let timer: TimerHandle | undefined;
  const stop = () => {
    timer?.cancel();
    req.off('data', drop);
  };
  const drop = (chunk: Buffer) => {
    dropped += chunk.length;
    lastReadMs = clock.now();
    if (dropped > LINGER_MAX_BYTES) socket.destroy();
  };
  // One timer at a time, re-armed when it fires early (data came since), not one per chunk.
  const check = () => {
    const nowMs = clock.now();
    const dueMs = Math.min(lastReadMs + LINGER_IDLE_MS, startedMs + LINGER_TOTAL_MS);
    if (nowMs >= dueMs) return void socket.destroy();
    timer = clock.setTimer(dueMs - nowMs, check);
  };
  socket.once('close', stop);
  // The whole declared body is in: nothing is left unread, so closing (once the answer is flushed)
  // sends no reset.
  req.once('end', () => socket.destroySoon());
  req.on('data', drop);
  req.resume();
  if (req.complete) return void socket.destroySoon();
  timer = clock.setTimer(LINGER_IDLE_MS, check);
}

/** Answer a request: as usual (keep-alive) when its body was read to the end, else at once and
 *  lingering (answerThenLinger), so a client still sending reads the answer instead of a reset. */
export function answerRequest(req: IncomingMessage, res: ServerResponse, answer: EarlyAnswer, clock: Clock): void {
  if (!req.complete) return answerThenLinger(req, answer, clock);
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}
