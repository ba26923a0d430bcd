// The platform's task and job lifecycles as tables: every status change goes through `transition`,
// and a change the table does not list is a bug, not a silent overwrite.
import { OtaError } from '../shared/errors.js';
import type { JobStatus, TaskStatus } from '../shared/platform-rules.js';

const TASK_MOVES: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  CONFIRM: ['QUEUED', 'CANCELED'],
  QUEUED: ['NOTIFIED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'CANCELED'],
  NOTIFIED: ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'CANCELED'],
  IN_PROGRESS: ['SUCCEEDED', 'FAILED', 'CANCELED'],
  // ReupgradeOTATask takes FAILED and CANCELED tasks back to the queue.
  FAILED: ['QUEUED'],
  CANCELED: ['QUEUED'],
  SUCCEEDED: [],
};

const JOB_MOVES: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  PLANNED: ['IN_PROGRESS', 'CANCELED'],
  IN_PROGRESS: ['COMPLETED', 'CANCELED'],
  // A re-upgraded task reopens its job.
  COMPLETED: ['IN_PROGRESS'],
  CANCELED: ['IN_PROGRESS'],
};

export function canMoveTask(from: TaskStatus, to: TaskStatus): boolean {
  return TASK_MOVES[from].includes(to);
}

export function moveTask(thing: { status: TaskStatus; taskId: string }, to: TaskStatus): void {
  if (!canMoveTask(thing.status, to)) {
    throw new OtaError('ILLEGAL_TRANSITION', `task ${thing.taskId} cannot go from ${thing.status} to ${to}`, {
      expected: TASK_MOVES[thing.status].join(', ') || 'no further change', found: to,
    });
  }
  thing.status = to;
}

export function moveJob(thing: { status: JobStatus; jobId: string }, to: JobStatus): void {
  if (thing.status === to) return;
  if (!JOB_MOVES[thing.status].includes(to)) {
    throw new OtaError('ILLEGAL_TRANSITION', `job ${thing.jobId} cannot go from ${thing.status} to ${to}`, {
      expected: JOB_MOVES[thing.status].join(', '), found: to,
    });
  }
  thing.status = to;
}
