// The 1 MiB blocks the agent's HTTP client reads into, used again once every byte handed out of them
// is written and digested. Without reuse each block is garbage after one pass, and V8 frees external
// memory only at its next collection: the peak RSS grew with the file (118-133 MiB at 1 GiB).
// A block is only reused when all its handed-out bytes came back, so a chunk that never comes back
// (an error path, a consumer that stopped) leaves its block to the garbage collector, never shared.

export const BLOCK_BYTES = 1024 * 1024;
/** The smallest block: a read is given at least this much room, and a response head (16 KiB at most) fits. */
export const MIN_BLOCK_BYTES = 64 * 1024;
/** Free blocks kept; more come back only when the writer falls behind, and those go to the collector. */
const MAX_FREE = 8;

/** Block (and write) size for a body with `leftBytes` still to come: 1 MiB for a large file, a
 *  sixteenth of a small one, so a small download holds little memory while it runs (a process may run
 *  thousands of agents: the fleet benchmark) and a large one still reads and writes in 1 MiB steps. */
export function blockBytesFor(leftBytes: number): number {
  const part = Math.ceil(leftBytes / 16 / MIN_BLOCK_BYTES) * MIN_BLOCK_BYTES;
  return Math.min(BLOCK_BYTES, Math.max(MIN_BLOCK_BYTES, part));
}

interface BlockState {
  block: Buffer;
  /** Body bytes handed out and not yet released. */
  out: number;
  /** The reader has moved on to another block: this one gets no more bytes. */
  retired: boolean;
}

export class BlockPool {
  readonly #free: Buffer[] = [];
  // Weak: a block whose chunks never come back is the collector's, entry and all.
  readonly #live = new WeakMap<ArrayBufferLike, BlockState>();
  /** Blocks taken and not yet settled: at 0 no download is under way and the free blocks go. */
  #liveCount = 0;

  /** A block of at least `bytes` to read into. */
  take(bytes: number): Buffer {
    const i = this.#free.findIndex((b) => b.length >= bytes);
    const block = i >= 0 ? (this.#free.splice(i, 1)[0] as Buffer) : Buffer.allocUnsafeSlow(bytes);
    this.#live.set(block.buffer, { block, out: 0, retired: false });
    this.#liveCount++;
    return block;
  }

  /** `chunk` (a view of a block from take()) goes to a reader, who gives it back with release(). */
  handOut(chunk: Buffer): void {
    const s = this.#live.get(chunk.buffer);
    if (s) s.out += chunk.length;
  }

  /** The reader is done filling `block`; it is reused once its handed-out bytes are back. */
  retire(block: Buffer): void {
    const s = this.#live.get(block.buffer);
    if (!s) return;
    s.retired = true;
    this.#settle(s);
  }

  /** Chunks handed out, now written and digested (the caller keeps no reference to them). */
  release(chunks: readonly Buffer[]): void {
    for (const c of chunks) {
      const s = this.#live.get(c.buffer);
      if (!s) continue;
      s.out -= c.length;
      this.#settle(s);
    }
  }

  #settle(s: BlockState): void {
    if (!s.retired || s.out > 0) return;
    this.#live.delete(s.block.buffer);
    this.#liveCount--;
    // Between downloads an idle agent holds no block.
    if (this.#liveCount === 0) this.#free.length = 0;
    else if (this.#free.length < MAX_FREE) this.#free.push(s.block);
  }
}
