// Fault injection for the firmware file server, per firmware. Counters live beside the plan so
// "only the first K times" means K responses, across every client.
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
  errorsServed = 0;
  closesDone = 0;
  flipsDone = 0;

  constructor(plan: FaultPlan) {
    this.plan = plan;
  }

  /** The status to answer instead of the file, if this request is to fail. */
  takeError(): number | undefined {
    const { errorStatus, errorTimes } = this.plan;
    if (errorStatus === undefined) return undefined;
    if (errorTimes !== undefined && this.errorsServed >= errorTimes) return undefined;
    this.errorsServed++;
    return errorStatus;
  }

  /** The offset to corrupt in this response, if any. */
  takeFlip(): number | undefined {
    const { flipByteAt, flipTimes } = this.plan;
    if (flipByteAt === undefined) return undefined;
    if (flipTimes !== undefined && this.flipsDone >= flipTimes) return undefined;
    this.flipsDone++;
    return flipByteAt;
  }

  /** Bytes after which this response is cut, if it is to be cut. */
  takeClose(): number | undefined {
    const { closeAfterBytes, closeTimes } = this.plan;
    if (closeAfterBytes === undefined) return undefined;
    if (closeTimes !== undefined && this.closesDone >= closeTimes) return undefined;
    this.closesDone++;
    return closeAfterBytes;
  }
}
