// When the benches still working are expected to end, from the rate of their progress: the watch polls
// at that moment instead of up to a whole poll interval later, so the verdict follows the last bench's
// end closely. An estimate only: a bench slower than it simply gets the next poll.
import { isFinalStatus, type TaskView } from './task-view.js';

interface Reading { atMs: number; progress: number }

export class FinishEstimate {
  /** Per task: the first read with some progress, and the last read where the progress moved. */
  readonly #first = new Map<string, Reading>();
  readonly #moved = new Map<string, Reading>();

  /** Take one poll's views (read at `nowMs`). */
  update(tasks: readonly TaskView[], nowMs: number): void {
    for (const t of tasks) {
      if (!(t.progress > 0)) continue;
      if (!this.#first.has(t.taskId)) this.#first.set(t.taskId, { atMs: nowMs, progress: t.progress });
      const last = this.#moved.get(t.taskId);
      if (!last || last.progress !== t.progress) this.#moved.set(t.taskId, { atMs: nowMs, progress: t.progress });
    }
  }

  /** The clock time by which every unfinished task should have ended, or undefined when one of them
   *  gives no basis for a guess: not started, seen at one progress only, or not moving for `staleMs`
   *  (an install that reports nothing, a stalled download: no reason to poll early for it). */
  endMs(tasks: readonly TaskView[], nowMs: number, staleMs: number): number | undefined {
    let end: number | undefined;
    for (const t of tasks) {
      if (isFinalStatus(t.status)) continue;
      const first = this.#first.get(t.taskId);
      const moved = this.#moved.get(t.taskId);
      if (!first || !moved || moved.progress <= first.progress || nowMs - moved.atMs > staleMs) return undefined;
      const perMs = (moved.progress - first.progress) / (moved.atMs - first.atMs);
      const taskEnd = moved.atMs + (100 - moved.progress) / perMs;
      end = Math.max(end ?? taskEnd, taskEnd);
    }
    return end;
  }
}
