// Appends received bytes to the part file in large writes, and hands them to the digester only once
// they are on disk, so the digest always covers exactly the bytes the file holds.
// The socket delivers up to 64 KiB at a time; one write (a thread-pool round trip) per such chunk
// costs more CPU than the bytes themselves. The chunks are kept as they came (no copy) until
// WRITE_BYTES are held, then written with one writev; one write is on its way while the next list
// fills, and the body is not read on while both are taken, so memory stays bounded.
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
  /** The write and digest of the last submitted list (each waits for the one before). */
  #chain: Promise<void> = Promise.resolve();
  #pending = false;
  /** Bytes in the part file once the lists submitted so far are written. */
  #onDisk: number;
  /** Written since the last flush-behind began. */
  #unflushed = 0;
  /** The flush-behind under way, if any (one at a time: the next begins when it ends). */
  #flushing: Promise<void> | undefined;
  #flushFailure: unknown;

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

  /** Keeps the chunk. A promise means: wait for it before pushing more (the list before is still on its way). */
  push(chunk: Buffer): Promise<void> | undefined {
    this.#list.push(chunk);
    this.#bytes += chunk.length;
    return this.#bytes >= this.writeBytes || this.#list.length >= MAX_IOV ? this.#submit() : undefined;
  }

  /** Writes what is held and waits for every list to be written and digested, and for the write-out
   *  under way; rejects with the first failure. The caller still fsyncs: what is written since is not out. */
  async flush(): Promise<void> {
    if (this.#bytes > 0) void this.#submit();
    try {
      await this.#chain;
    } finally {
      await this.#flushing;
    }
    if (this.#flushFailure !== undefined) throw writeFailed(this.#flushFailure);
  }

  /** Starts writing the file's dirty pages out once FLUSH_BEHIND_BYTES are written since the last
   *  start; a failure (an I/O error) is kept for flush(), which the download's end awaits. */
  #flushBehind(bytes: number): void {
    this.#unflushed += bytes;
    if (this.#unflushed < FLUSH_BEHIND_BYTES || this.#flushing) return;
    this.#unflushed = 0;
    this.#flushing = this.fh.datasync().then(
      () => { this.#flushing = undefined; },
      (err: unknown) => { this.#flushFailure ??= err; this.#flushing = undefined; },
    );
  }

  /** Queues the held list; returns the previous list's promise when it is still in flight. */
  #submit(): Promise<void> | undefined {
    const list = this.#list;
    const bytes = this.#bytes;
    this.#list = [];
    this.#bytes = 0;
    const before = this.#pending ? this.#chain : undefined;
    this.#pending = true;
    const next = this.#chain.then(async () => {
      await writeAll(this.fh, list, bytes);
      this.#onDisk += bytes;
      this.#flushBehind(bytes);
      this.onWritten(this.#onDisk);
      this.digester.written(list, this.#onDisk);
      this.release?.(list);
    });
    this.#chain = next;
    // Observed through push()'s or flush()'s promise; never an unhandled rejection in between.
    next.then(() => { if (this.#chain === next) this.#pending = false; }, () => undefined);
    return before;
  }
}

export function writeFailed(err: unknown): OtaError {
  return new OtaError('DOWNLOAD_FAILED', `cannot write the download: ${errorMessage(err)}`.slice(0, 120), { cause: err });
}

async function writeAll(fh: FileHandle, list: Buffer[], bytes: number): Promise<void> {
  try {
    let done = (await fh.writev(list)).bytesWritten;
    // A short write (rare: a signal, a nearly full disk) goes on from where it stopped.
    for (let i = 0, skip = done; done < bytes; i++) {
      const b = list[i] as Buffer;
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      for (let off = skip; off < b.length;) {
        const n = (await fh.write(b, off, b.length - off)).bytesWritten;
        off += n;
        done += n;
      }
      skip = 0;
    }
  } catch (err) {
    // Disk full, quota, I/O error: step -2, and the part file holds what was written before.
    throw writeFailed(err);
  }
}
