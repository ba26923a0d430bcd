// Appends received bytes to the part file, and hands them to the digester only once they are in the
// file, so the digest always covers exactly the bytes the file holds.
// The chunks are kept as they came (no copy) until WRITE_BYTES are held, then written on this thread
// in calls of at most WRITE_CALL_MAX_BYTES (see writeAll for why both); the body is not read on while
// a list is written, so memory stays bounded by the list and the blocks the fetcher reads into.
import { writevSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { OtaError, errorMessage } from '../shared/errors.js';

/** Whatever consumes the bytes besides the file: the digest, and the signature check when configured. */
export interface Digester {
  /** The part file holds `onDiskBytes` bytes now, `chunks` being the last ones written, in file order
   *  (a digester hashes them, or reads them back from the file; what it keeps past the call, it copies). */
  written(chunks: readonly Buffer[], onDiskBytes: number): void;
  /** Takes in the first `bytes` bytes the part file already holds (a resume, a check after a restart). */
  readFile(bytes: number): Promise<void>;
}

export const WRITE_BYTES = 1024 * 1024;
/** A large download asks the kernel to write its pages out every this many bytes, while it goes on
 *  receiving: otherwise the dirty pages wait for the fsync at the end (the kernel starts on its own
 *  only past a share of the RAM) and the whole file's write-out is added to the download's time. */
export const FLUSH_BEHIND_BYTES = 32 * 1024 * 1024;
/** writev takes at most IOV_MAX (1024 on Linux) buffers per call. */
const MAX_IOV = 1024;

export class PartWriter {
  #list: Buffer[] = [];
  #bytes = 0;
  /** Bytes in the part file. */
  #onDisk: number;
  /** Written since the last flush-behind began. */
  #unflushed = 0;
  /** The flush-behind under way, if any (one at a time: the next begins when it ends). */
  #flushing: Promise<void> | undefined;
  /** The first failure: nothing is written after it. The file may hold the start of the list that
   *  failed, which the digest was not given; a failed write ends the download (step -2), and a resume
   *  after a crash hashes the file itself. */
  #failure: OtaError | undefined;

  constructor(
    private readonly fh: FileHandle,
    /** The part file's size when this writer starts appending to it. */
    startBytes: number,
    private readonly digester: Digester,
    /** Called with the part file's size each time a list is written and given to the digester. */
    private readonly onWritten: (onDiskBytes: number) => void,
    /** Gets each list back once it is written and digested (the fetcher reads into its blocks again). */
    private readonly release?: (chunks: readonly Buffer[]) => void,
    /** Bytes held before a write: WRITE_BYTES, less for a small file (its blocks are smaller too). */
    private readonly writeBytes = WRITE_BYTES,
  ) {
    this.#onDisk = startBytes;
  }

  /** Keeps the chunk, and writes what is held once it is a full list: true when it did (the caller
   *  lets the event loop turn, see download.ts); throws the write's failure. */
  push(chunk: Buffer): boolean {
    this.#list.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes < this.writeBytes && this.#list.length < MAX_IOV) return false;
    this.#write();
    return true;
  }

  /** Writes what is held and waits for the write-out under way; rejects with the first failure.
   *  The caller still fsyncs: what is written since the last write-out began is not out. */
  async flush(): Promise<void> {
    if (this.#bytes > 0) {
      try {
        this.#write();
      } catch {
        // Kept in #failure, thrown below once the write-out under way has ended.
      }
    }
    await this.#flushing;
    if (this.#failure) throw this.#failure;
  }

  #write(): void {
    if (this.#failure) throw this.#failure;
    const list = this.#list;
    const bytes = this.#bytes;
    this.#list = [];
    this.#bytes = 0;
    try {
      writeAll(this.fh, list);
    } catch (err) {
      // Disk full, quota, I/O error: step -2.
      this.#failure = writeFailed(err);
      throw this.#failure;
    }
    this.#onDisk += bytes;
    this.#flushBehind(bytes);
    this.onWritten(this.#onDisk);
    this.digester.written(list, this.#onDisk);
    this.release?.(list);
  }

  /** Starts writing the file's dirty pages out once FLUSH_BEHIND_BYTES are written since the last
   *  start, on the thread pool while the body goes on arriving; a failure (an I/O error) is kept for
   *  flush(), which the download's end awaits. */
  #flushBehind(bytes: number): void {
    this.#unflushed += bytes;
    if (this.#unflushed < FLUSH_BEHIND_BYTES || this.#flushing) return;
    this.#unflushed = 0;
    this.#flushing = this.fh.datasync().then(
      () => { this.#flushing = undefined; },
      (err: unknown) => { this.#failure ??= writeFailed(err); this.#flushing = undefined; },
    );
  }
}

export function writeFailed(err: unknown): OtaError {
  return new OtaError('DOWNLOAD_FAILED', `cannot write the download: ${errorMessage(err)}`.slice(0, 120), { cause: err });
}

/** One write call copies at most this many bytes into the page cache (see writeAll). */
export const WRITE_CALL_MAX_BYTES = 64 * 1024;

/** The list cut into write calls of at most `maxBytes` each, in file order (views of the chunks,
 *  no copy): small chunks (TLS records of 16 KiB) are gathered, large ones are cut. */
export function writeCalls(list: readonly Buffer[], maxBytes: number): Buffer[][] {
  const calls: Buffer[][] = [];
  let call: Buffer[] = [];
  let callBytes = 0;
  for (const b of list) {
    for (let off = 0; off < b.length;) {
      const take = Math.min(b.length - off, maxBytes - callBytes);
      call.push(off === 0 && take === b.length ? b : b.subarray(off, off + take));
      callBytes += take;
      off += take;
      if (callBytes === maxBytes) {
        calls.push(call);
        call = [];
        callBytes = 0;
      }
    }
  }
  if (callBytes > 0) calls.push(call);
  return calls;
}

/** Writes the list in calls of at most WRITE_CALL_MAX_BYTES, synchronously, on this thread.
 *  Why small calls: the kernel sizes a file's page-cache pages (folios) by the length of the write
 *  call, so 1 MiB calls take 1 MiB blocks of free memory; on a VM with free page reporting
 *  (virtio-balloon) those are the blocks the host has taken back, and each page faults in again: a
 *  1 GiB download spent 4-5.7 s in the kernel instead of ~1.3 s (bench/README.md). Smaller calls are
 *  served from the smaller free blocks the guest keeps. Why on this thread: through the thread pool
 *  each small call costs a round trip (2.0-2.8 s per GiB measured, against 1.1 s here); a 1 MiB list
 *  holds this thread for a few milliseconds on a fast disk, seconds on a slow one once the kernel
 *  throttles dirty pages (the download lets the event loop turn after each list). */
function writeAll(fh: FileHandle, list: readonly Buffer[]): void {
  for (const call of writeCalls(list, WRITE_CALL_MAX_BYTES)) writeFully(fh.fd, call);
}

/** One writev; a short write (rare: a signal, a nearly full disk) goes on from where it stopped. */
function writeFully(fd: number, call: readonly Buffer[]): void {
  let rest = call;
  for (;;) {
    const n = writevSync(fd, rest);
    let skip = n;
    let i = 0;
    while (i < rest.length && skip >= (rest[i] as Buffer).length) skip -= (rest[i++] as Buffer).length;
    if (i === rest.length) return;
    if (n === 0) throw new Error('the disk took no bytes');
    rest = [(rest[i] as Buffer).subarray(skip), ...rest.slice(i + 1)];
  }
}
