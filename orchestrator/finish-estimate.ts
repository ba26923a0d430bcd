// When the benches still working are likely to end, so the watch can poll then instead of up to a
// whole poll interval later and the verdict follows the last bench's end closely. Two signs: the rate
// of a bench's progress says it ends before the next poll, or a bench has already succeeded and every
// other one is under way (benches of one verify job tend to end together; their reported progress lags
// by up to the agent's report interval, so it alone often misses that). A guess only: a wrong one
// costs an early poll, and a watch makes at most MAX_EARLY_POLLS of them.
import { isFinalStatus, type TaskView } from './task-view.js';

/** An early poll comes no sooner than this after the last poll's start. */
export const EARLY_POLL_MS = 250;
/** Early polls per watch, whatever the benches do: a straggler costs at most this many extra calls. */
export const MAX_EARLY_POLLS = 20;

interface Reading { atMs: number; progress: number }

export class FinishEstimate {
  /** Per task: the first read with some progress, and the last read where the progress moved. */
  readonly #first = new Map<string, Reading>();
  readonly #moved = new Map<string, Reading>();
  #early = 0;

  /** Take one poll's views (read at `nowMs`). */
  update(tasks: readonly TaskView[], nowMs: number): void {
    for (const t of tasks) {
      if (!(t.progress > 0)) continue;
      if (!this.#first.has(t.taskId)) this.#first.set(t.taskId, { atMs: nowMs, progress: t.progress });
      const last = this.#moved.get(t.taskId);
      if (!last || last.progress !== t.progress) this.#moved.set(t.taskId, { atMs: nowMs, progress: t.progress });
    }
  }

  /** When to poll next instead of `regularMs`, or undefined to keep it. `staleMs`: a bench whose
   *  progress has not moved this long (an install that reports nothing, a stalled download) gives no
   *  reason to poll early. Counts the early poll it returns. */
  earlyPollMs(tasks: readonly TaskView[], lastPollMs: number, regularMs: number, staleMs: number): number | undefined {
    if (this.#early >= MAX_EARLY_POLLS) return undefined;
    const unfinished = tasks.filter((t) => !isFinalStatus(t.status));
    if (unfinished.length === 0) return undefined;
    const soonest = lastPollMs + EARLY_POLL_MS;
    const nearEnd = tasks.some((t) => t.status === 'SUCCEEDED') && unfinished.every((t) => t.platformStatus === 'IN_PROGRESS');
    const endMs = nearEnd ? soonest : this.#endMs(unfinished, lastPollMs, staleMs);
    const at = endMs === undefined ? undefined : Math.max(soonest, endMs);
    if (at === undefined || at >= regularMs) return undefined;
    this.#early++;
    return at;
  }

  /** The clock time by which every unfinished task should have ended at its progress rate so far, or
   *  undefined when one of them gives no basis: not started, seen at one progress only, or stale. */
  #endMs(unfinished: readonly TaskView[], nowMs: number, staleMs: number): number | undefined {
    let end: number | undefined;
    for (const t of unfinished) {
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
