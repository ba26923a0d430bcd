// The response side of the agent's HTTP/1.1 GET: the status line and headers, and how the body is
// framed (Content-Length, chunked, or up to the close). Every bound is hard: a server that sends
// more head, more headers, a longer chunk-size line or anything malformed gets a clear refusal,
// never a crash, an unbounded buffer or a guess.

/** The response head (status line and every header) may not exceed this. */
export const MAX_HEAD_BYTES = 16 * 1024;
export const MAX_HEADERS = 100;
/** A chunk-size line (size and extensions) may not exceed this. */
const MAX_CHUNK_LINE = 1024;
/** Bytes of trailer fields after the last chunk. */
const MAX_TRAILER_BYTES = 16 * 1024;

/** A response that breaks HTTP/1.1: the attempt fails with these words (a network error, retried like one). */
export class MalformedResponse extends Error {}

export interface ResponseHead {
  status: number;
  /** HTTP/1.1 (keep-alive by default) or HTTP/1.0. */
  minor: 0 | 1;
  headers: Record<string, string | string[]>;
}

export type Framing = { kind: 'length'; bytes: number } | { kind: 'chunked' } | { kind: 'close' };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible characters, spaces, tabs, and obs-text; no control characters.
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex -- the reason phrase is refused when it holds control characters
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;

/** Where the head ends (the index after its blank line) in the first bytes of `buf`, or -1. */
export function headEnd(buf: Buffer): number {
  const at = buf.subarray(0, MAX_HEAD_BYTES + 4).indexOf('\r\n\r\n', 0, 'latin1');
  if (at < 0) {
    if (buf.length >= MAX_HEAD_BYTES) throw new MalformedResponse(`response head larger than ${MAX_HEAD_BYTES} bytes`);
    return -1;
  }
  if (at + 4 > MAX_HEAD_BYTES) throw new MalformedResponse(`response head larger than ${MAX_HEAD_BYTES} bytes`);
  return at + 4;
}

/** Parses a head found by headEnd (its bytes up to and including the blank line). */
export function parseHead(bytes: Buffer): ResponseHead {
  const lines = bytes.toString('latin1', 0, bytes.length - 4).split('\r\n');
  const m = STATUS_LINE.exec(lines[0] ?? '');
  if (!m) throw new MalformedResponse(`malformed status line: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
  if (lines.length - 1 > MAX_HEADERS) throw new MalformedResponse(`more than ${MAX_HEADERS} response headers`);
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (colon <= 0 || !TOKEN.test(name) || BAD_VALUE.test(value)) throw new MalformedResponse(`malformed response header: ${JSON.stringify(line.slice(0, 40))}`);
    const had = headers[name];
    if (had === undefined) headers[name] = value;
    else if (name === 'set-cookie') headers[name] = [...(Array.isArray(had) ? had : [had]), value];
    else if (name === 'content-length') {
      if (had !== value) throw new MalformedResponse('conflicting Content-Length headers');
    } else headers[name] = `${String(had)}, ${value}`;
  }
  return { status: Number(m[2]), minor: m[1] === '1' ? 1 : 0, headers };
}

/** How the body of a response to a GET is delimited (RFC 9112 section 6.3). */
export function framing(head: ResponseHead): Framing {
  if (head.status === 204 || head.status === 304) return { kind: 'length', bytes: 0 };
  const te = head.headers['transfer-encoding'];
  const cl = head.headers['content-length'];
  if (te !== undefined) {
    // Smuggling ground: a length beside a coding, or a coding we cannot undo, is refused, not guessed.
    if (cl !== undefined) throw new MalformedResponse('both Transfer-Encoding and Content-Length');
    if (String(te).trim().toLowerCase() !== 'chunked') throw new MalformedResponse(`unsupported Transfer-Encoding: ${String(te).slice(0, 40)}`);
    return { kind: 'chunked' };
  }
  if (cl !== undefined) {
    const text = String(cl);
    if (!/^\d{1,16}$/.test(text) || Number(text) > Number.MAX_SAFE_INTEGER) throw new MalformedResponse(`malformed Content-Length: ${text.slice(0, 40)}`);
    return { kind: 'length', bytes: Number(text) };
  }
  return { kind: 'close' };
}

/** Whether the connection may carry the next request once this response's body is read. */
export function keepsAlive(head: ResponseHead, f: Framing): boolean {
  const conn = String(head.headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
  return head.minor === 1 && f.kind !== 'close' && !conn.includes('close');
}

/** Undoes chunked transfer coding without copying: the data comes out as views of the bytes read. */
export class ChunkedDecoder {
  #state: 'size' | 'data' | 'crlf' | 'trailer' | 'done' = 'size';
  #line = '';
  #left = 0;
  #trailerBytes = 0;

  get done(): boolean {
    return this.#state === 'done';
  }

  /** Appends the body bytes in `chunk` to `out`; returns how many bytes of `chunk` belong to the body's coding. */
  feed(chunk: Buffer, out: Buffer[]): number {
    let i = 0;
    while (i < chunk.length && this.#state !== 'done') {
      if (this.#state === 'data') {
        const n = Math.min(this.#left, chunk.length - i);
        out.push(chunk.subarray(i, i + n));
        i += n;
        this.#left -= n;
        if (this.#left === 0) this.#state = 'crlf';
        continue;
      }
      const lf = chunk.indexOf(10, i);
      const end = lf < 0 ? chunk.length : lf;
      const bound = this.#state === 'trailer' ? MAX_TRAILER_BYTES - this.#trailerBytes : MAX_CHUNK_LINE;
      if (this.#line.length + (end - i) > bound) throw new MalformedResponse(this.#state === 'trailer' ? 'chunked trailer too large' : `chunk-size line longer than ${MAX_CHUNK_LINE} bytes`);
      this.#line += chunk.toString('latin1', i, end);
      i = end;
      if (lf < 0) break;
      i++;
      if (!this.#line.endsWith('\r')) throw new MalformedResponse('chunked body line not ended by CRLF');
      this.#lineDone(this.#line.slice(0, -1));
    }
    return i;
  }

  #lineDone(line: string): void {
    this.#line = '';
    if (this.#state === 'crlf') {
      if (line !== '') throw new MalformedResponse('chunk data longer than its size');
      this.#state = 'size';
    } else if (this.#state === 'size') {
      // eslint-disable-next-line no-control-regex -- chunk extensions are refused when they hold control characters
      const m = /^([0-9a-fA-F]{1,13})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?$/.exec(line);
      if (!m) throw new MalformedResponse(`bad chunk size: ${JSON.stringify(line.slice(0, 20))}`);
      this.#left = parseInt(m[1] as string, 16);
      this.#state = this.#left === 0 ? 'trailer' : 'data';
    } else {
      this.#trailerBytes += line.length + 2;
      if (line === '') this.#state = 'done';
    }
  }
}
