// The 1 MiB blocks the agent's HTTP client reads into, used again once every byte handed out of them
// is written and digested. Without reuse each block is garbage after one pass, and V8 frees external
// memory only at its next collection: the peak RSS grew with the file (118-133 MiB at 1 GiB).
// A block is only reused when all its handed-out bytes came back, so a chunk that never comes back
// (an error path, a consumer that stopped) leaves its block to the garbage collector, never shared.

export const BLOCK_BYTES = 1024 * 1024;
/** Free blocks kept; more come back only when the writer falls behind, and those go to the collector. */
const MAX_FREE = 8;

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

  /** A block to read into. */
  take(): Buffer {
    const block = this.#free.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES);
    this.#live.set(block.buffer, { block, out: 0, retired: false });
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
    if (this.#free.length < MAX_FREE) this.#free.push(s.block);
  }
}
