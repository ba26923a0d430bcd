// One device's task as ota-verify shows it, and the verdict rules the platform does not apply for us:
// a bench that never takes the notice (the platform's timeout counts from the first progress, so such
// a task would wait forever) and a run that outlives --max-wait are failures in our verdict.
import { FINAL_TASK_STATUSES, type TaskStatus } from '../shared/platform-rules.js';
import type { TaskRow } from './platform-schemas.js';

export interface TaskView {
  taskId: string;
  deviceName: string;
  /** The status in our verdict: the platform's, or FAILED when our own bound failed the bench. */
  status: string;
  /** The platform's TaskStatus as last read. */
  platformStatus: string;
  progress: number;
  desc: string;
  srcVersion: string;
  destVersion: string;
  /** When this process first saw the task in its current status. */
  sinceMs: number;
}

export const isFinalStatus = (s: string): boolean => FINAL_TASK_STATUSES.has(s as TaskStatus);

/** Statuses of a task that has not started: no progress message yet. */
const NOT_STARTED = new Set(['CONFIRM', 'QUEUED', 'NOTIFIED']);

export const NEVER_STARTED = 'never started: offline or agent not running';
export const NOT_FINISHED = 'not finished within --max-wait';

/** Tracks, per task, when we first saw it and whether it ever started; decides the start timeout. */
export class TaskTracker {
  readonly #firstSeenMs = new Map<string, number>();
  readonly #started = new Set<string>();
  /** Tasks our verdict failed, with the reason. */
  readonly #failedByUs = new Map<string, string>();
  readonly #views = new Map<string, TaskView>();

  /** Tasks still not started `startTimeoutMs` after we first saw them, not yet failed by us. */
  expired(nowMs: number, startTimeoutMs: number | undefined): TaskView[] {
    if (startTimeoutMs === undefined) return [];
    return [...this.#views.values()].filter((v) => !this.#failedByUs.has(v.taskId) && !this.#started.has(v.taskId)
      && NOT_STARTED.has(v.platformStatus) && nowMs - (this.#firstSeenMs.get(v.taskId) ?? nowMs) >= startTimeoutMs);
  }

  failByUs(taskIds: Iterable<string>, reason: string): void {
    for (const id of taskIds) if (!this.#failedByUs.has(id)) this.#failedByUs.set(id, reason);
  }

  /** Today's views from the platform's rows; `changed` lists those that moved since the last read. */
  update(rows: TaskRow[], nowMs: number): { tasks: TaskView[]; changed: TaskView[]; endedBadly: boolean } {
    const changed: TaskView[] = [];
    let endedBadly = false;
    const tasks = rows.map((r) => this.#view(r.TaskId, r, nowMs));
    for (const view of tasks) {
      const prev = this.#views.get(view.taskId);
      if (!prev || prev.status !== view.status || prev.progress !== view.progress || prev.desc !== view.desc) changed.push(view);
      if (prev?.status !== view.status && (view.status === 'FAILED' || view.status === 'CANCELED')) endedBadly = true;
      this.#views.set(view.taskId, view);
    }
    return { tasks, changed, endedBadly };
  }

  /** The views again after we failed some tasks ourselves (no new read). */
  refresh(tasks: TaskView[], nowMs: number): TaskView[] {
    return tasks.map((t) => {
      const reason = this.#failedByUs.get(t.taskId);
      if (!reason || t.status === 'FAILED') return t;
      const view = { ...t, status: 'FAILED', desc: reason, sinceMs: nowMs };
      this.#views.set(t.taskId, view);
      return view;
    });
  }

  #view(taskId: string, r: TaskRow, nowMs: number): TaskView {
    if (!this.#firstSeenMs.has(taskId)) this.#firstSeenMs.set(taskId, nowMs);
    if (!NOT_STARTED.has(r.TaskStatus) || r.Progress > 0) this.#started.add(taskId);
    const prev = this.#views.get(taskId);
    // A task our verdict failed stays failed, unless the platform says it succeeded after all.
    const ours = this.#failedByUs.get(taskId);
    const status = ours && r.TaskStatus !== 'SUCCEEDED' ? 'FAILED' : r.TaskStatus;
    const desc = ours && status === 'FAILED' ? ours : r.TaskDesc;
    return {
      taskId, deviceName: r.DeviceName, status, platformStatus: r.TaskStatus, progress: r.Progress, desc,
      srcVersion: r.SrcVersion, destVersion: r.DestVersion, sinceMs: prev && prev.status === status ? prev.sinceMs : nowMs,
    };
  }
}
