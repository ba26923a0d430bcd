// Fault injection for the firmware file server, per firmware. Counters live beside the plan so
// "only the first K times" means K responses, across every client.
import type { ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { z } from 'zod';

export const faultPlanSchema = z.object({
  /** Close the connection after this many body bytes. */
  closeAfterBytes: z.number().int().nonnegative().optional(),
  /** Only the first K responses are cut (all when absent). */
  closeTimes: z.number().int().positive().optional(),
  /** Throttle the body to this many bytes per second. */
  bytesPerSec: z.number().int().positive().optional(),
  /** XOR this byte offset of the file with 0xff … */
  flipByteAt: z.number().int().nonnegative().optional(),
  /** … in the first K responses only (all when absent). */
  flipTimes: z.number().int().positive().optional(),
  /** Answer this HTTP status instead of the file … */
  errorStatus: z.number().int().min(400).max(599).optional(),
  /** … for the first K requests (all when absent). */
  errorTimes: z.number().int().positive().optional(),
  /** Append this many bytes after the file's end, declared in Content-Length. */
  extraBytes: z.number().int().positive().optional(),
}).strict();

export type FaultPlan = z.infer<typeof faultPlanSchema>;

export class FaultState {
  readonly plan: FaultPlan;
  /** How often each limited fault has fired so far. */
  readonly #fired = { error: 0, close: 0, flip: 0 };

  constructor(plan: FaultPlan) {
    this.plan = plan;
  }

  /** `value` if the fault is set and has fired fewer than `times` times (counting this one). */
  #take<T>(kind: 'error' | 'close' | 'flip', value: T | undefined, times: number | undefined): T | undefined {
    if (value === undefined || (times !== undefined && this.#fired[kind] >= times)) return undefined;
    this.#fired[kind]++;
    return value;
  }

  /** The status to answer instead of the file, if this request is to fail. */
  takeError(): number | undefined {
    return this.#take('error', this.plan.errorStatus, this.plan.errorTimes);
  }

  /** The offset to corrupt in this response, if any. */
  takeFlip(): number | undefined {
    return this.#take('flip', this.plan.flipByteAt, this.plan.flipTimes);
  }

  /** Bytes after which this response is cut, if it is to be cut. */
  takeClose(): number | undefined {
    return this.#take('close', this.plan.closeAfterBytes, this.plan.closeTimes);
  }
}

/** The body stage that applies a response's faults: flip one byte at its file offset, throttle,
 *  cut the connection after `cutAfter` bytes, append `extra` bytes. */
export function faultStream(bytesPerSec: number | undefined, flipByteAt: number | undefined, startOffset: number, cutAfter: number | undefined, extra: number, res: ServerResponse): Transform {
  let offset = startOffset;
  let sent = 0;
  const began = Date.now();
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let out = chunk;
      if (flipByteAt !== undefined && flipByteAt >= offset && flipByteAt < offset + chunk.length) {
        out = Buffer.from(chunk);
        out[flipByteAt - offset] = (out[flipByteAt - offset] as number) ^ 0xff;
      }
      offset += chunk.length;
      if (cutAfter !== undefined && sent + out.length >= cutAfter) {
        this.push(out.subarray(0, cutAfter - sent));
        sent = cutAfter;
        // Give the socket a moment to carry the bytes, then drop it mid-body.
        setImmediate(() => res.destroy());
        return;
      }
      sent += out.length;
      if (!bytesPerSec) return cb(null, out);
      const dueMs = (sent / bytesPerSec) * 1000 - (Date.now() - began);
      setTimeout(() => cb(null, out), Math.max(0, dueMs));
    },
    flush(cb) {
      if (extra > 0) this.push(Buffer.alloc(extra, 0x5a));
      cb();
    },
  });
}
