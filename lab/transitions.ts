// The platform's three lifecycles as tables, each in one place: a task's status, a job's status and
// a firmware's verification status (QueryOTAFirmware Status). Every status change goes through
// `move…`, and a change a table does not list is a bug, not a silent overwrite. `canMove…` lets a
// caller check a whole batch before it changes anything.
import { OtaError } from '../shared/errors.js';
import { FIRMWARE_STATUS, type FirmwareStatus, type JobStatus, type TaskStatus } from '../shared/platform-rules.js';

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

const F = FIRMWARE_STATUS;
const FIRMWARE_MOVES: Readonly<Record<FirmwareStatus, readonly FirmwareStatus[]>> = {
  // Created without verification: never verified, never verifying.
  [F.noVerificationNeeded]: [],
  // A verify job starts.
  [F.unverified]: [F.verifying],
  // The verify job ends: verified only if every device succeeded.
  [F.verifying]: [F.verified, F.verificationFailed],
  [F.verified]: [],
  // A new verify job, or a re-upgraded task of the failed one, verifies again.
  [F.verificationFailed]: [F.verifying],
};

export function canMoveTask(from: TaskStatus, to: TaskStatus): boolean {
  return TASK_MOVES[from].includes(to);
}

/** Staying put is allowed for jobs and firmware (a second re-upgraded task of an open job). */
export function canMoveJob(from: JobStatus, to: JobStatus): boolean {
  return from === to || JOB_MOVES[from].includes(to);
}

export function canMoveFirmware(from: FirmwareStatus, to: FirmwareStatus): boolean {
  return from === to || FIRMWARE_MOVES[from].includes(to);
}

export function moveTask(thing: { status: TaskStatus; taskId: string }, to: TaskStatus): void {
  if (!canMoveTask(thing.status, to)) throw illegal(`task ${thing.taskId}`, thing.status, to, TASK_MOVES[thing.status]);
  thing.status = to;
}

export function moveJob(thing: { status: JobStatus; jobId: string }, to: JobStatus): void {
  if (!canMoveJob(thing.status, to)) throw illegal(`job ${thing.jobId}`, thing.status, to, JOB_MOVES[thing.status]);
  thing.status = to;
}

export function moveFirmware(thing: { status: FirmwareStatus; firmwareId: string }, to: FirmwareStatus): void {
  if (!canMoveFirmware(thing.status, to)) throw illegal(`firmware ${thing.firmwareId}`, String(thing.status), String(to), FIRMWARE_MOVES[thing.status].map(String));
  thing.status = to;
}

function illegal(what: string, from: string, to: string, allowed: readonly string[]): OtaError {
  return new OtaError('ILLEGAL_TRANSITION', `${what} cannot go from ${from} to ${to}`, { expected: allowed.join(', ') || 'no further change', found: to });
}
