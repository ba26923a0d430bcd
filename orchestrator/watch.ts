// Watching a verify job: poll the tasks (every page) and the firmware, quickly while devices move and
// backing off while nothing changes, until the firmware's Status is final or every task is final and
// the job has ended. A plain state machine over an injected API and clock.
import { sleepOn, type Clock } from '../shared/clock.js';
import { OtaError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { FIRMWARE_STATUS } from '../shared/platform-rules.js';
import { FinishEstimate } from './finish-estimate.js';
import { isRetryable, type PlatformApi } from './platform-api.js';
import { parseAnswer } from './platform-schemas.js';
import { isFinalStatus, NEVER_STARTED, NOT_FINISHED, TaskTracker, type TaskView } from './task-view.js';
import { queryFirmware, tasksOfJob } from './verify-job.js';

export type { TaskView } from './task-view.js';

export interface Snapshot {
  jobId: string;
  firmwareId: string;
  /** null until read: a watch started right after the create reads the job only at the end. */
  jobStatus: string | null;
  /** null until read (see jobStatus). */
  firmwareStatus: number | null;
  tasks: TaskView[];
  atMs: number;
  done: boolean;
  /** The run reached --max-wait: unfinished benches were failed by us and their tasks cancelled. */
  timedOut: boolean;
}

export interface WatchOptions {
  api: PlatformApi;
  clock: Clock;
  log: Logger;
  jobId: string;
  /** The job's firmware and status when the caller already has them (it created or read the job):
   *  the first QueryOTAJob is then skipped, which matters when many jobs start at once under one budget. */
  firmwareId?: string;
  jobStatus?: string;
  iotInstanceId?: string;
  minIntervalMs: number;
  maxIntervalMs: number;
  /** How long the platform may stay unreachable before the watch gives up (exit 3). */
  unreachableMs: number;
  /** How long to keep reading a firmware left verifying (Status 2) after every task succeeded and the
   *  job ended: docs/platform.md (§ Task lifecycle) does not say the Status changes with the job, so it may come later. */
  settleGraceMs: number;
  /** A task that shows no progress this long after we first saw it fails in our verdict and is
   *  cancelled (CancelOTATaskByDevice, which needs the product key); undefined: no bound. */
  startTimeoutMs?: number;
  productKey?: string;
  /** Clock time at which the whole run gives up: unfinished tasks fail in our verdict and are cancelled. */
  deadlineMs?: number;
  signal: AbortSignal;
  onSnapshot: (s: Snapshot, changed: TaskView[]) => void;
}

/** The firmware is read at least every this many polls even when nothing suggests it moved. */
const FIRMWARE_EVERY_POLLS = 10;

const isFinalFirmware = (status: number | null): boolean => status === FIRMWARE_STATUS.verified || status === FIRMWARE_STATUS.verificationFailed;

// Requests per poll, because every job watched by the process shares one budget: one ListOTATaskByJob
// (every page). The firmware is read when its Status can have moved: when a task is first seen failed
// or canceled (docs/platform.md, § Task lifecycle, does not say whether the platform ends a verification at the first failure,
// so that reading is tolerated), when every task is final, and every FIRMWARE_EVERY_POLLS polls as a
// safety net. The job is read only when every task is final and the firmware's Status is not: a final
// Status is the verdict (the job's status then stays as last read, or null). Reads that confirm a
// verdict are urgent: they go ahead of the other jobs' polls in the limiter.
export async function watchJob(o: WatchOptions): Promise<Snapshot> {
  let firmwareId = o.firmwareId;
  let jobStatus: string | null = o.jobStatus ?? null;
  const readJob = async (urgent: boolean) => parseAnswer('QueryOTAJob', await o.api.request('QueryOTAJob', { JobId: o.jobId, IotInstanceId: o.iotInstanceId }, { urgent })).Data;
  if (firmwareId === undefined) {
    const job = await readJob(false);
    firmwareId = job.FirmwareId;
    jobStatus = job.JobStatus;
  }
  const fwId = firmwareId;
  const tracker = new TaskTracker();
  let intervalMs = o.minIntervalMs;
  let unreachableSince: number | undefined;
  let firmwareStatus: number | null = null;
  let pollsSinceFirmware = 0;
  let unsettledSince: number | undefined;
  let timedOut = false;
  const estimate = new FinishEstimate();
  let tasksNow: TaskView[] = [];
  const readFirmware = async (urgent: boolean) => {
    firmwareStatus = (await queryFirmware(o.api, fwId, o.iotInstanceId, { urgent })).Status;
    pollsSinceFirmware = 0;
  };
  // Cancelling is how the platform learns our verdict; a refused or failed cancel does not change it.
  const cancel = async (action: string, params: Record<string, unknown>) => {
    try {
      await o.api.request(action, { ...params, IotInstanceId: o.iotInstanceId }, { urgent: true });
    } catch (err) {
      o.log.warn({ action, err: errorMessage(err) }, 'could not cancel; the verdict stands');
    }
  };
  for (;;) {
    let snapshot: Snapshot | undefined;
    let changed: TaskView[] = [];
    const pollStartedMs = o.clock.now();
    try {
      const rows = await tasksOfJob(o.api, o.jobId, o.iotInstanceId);
      const now = o.clock.now();
      const read = tracker.update(rows, now);
      estimate.update(read.tasks, now);
      let tasks = read.tasks;
      changed = read.changed;
      let endedBadly = read.endedBadly;
      const expired = tracker.expired(now, o.startTimeoutMs);
      if (expired.length > 0) {
        tracker.failByUs(expired.map((t) => t.taskId), `${NEVER_STARTED} (no progress within ${Math.round((o.startTimeoutMs ?? 0) / 60_000 * 100) / 100} min; task cancelled)`);
        await cancel('CancelOTATaskByDevice', { FirmwareId: fwId, ProductKey: o.productKey, DeviceName: expired.map((t) => t.deviceName), JobId: o.jobId });
      }
      if (o.deadlineMs !== undefined && now >= o.deadlineMs) {
        const unfinished = tasks.filter((t) => !isFinalStatus(t.status));
        tracker.failByUs(unfinished.map((t) => t.taskId), NOT_FINISHED);
        if (unfinished.length > 0) await cancel('CancelOTATaskByJob', { JobId: o.jobId, CancelQueuedTask: true, CancelNotifiedTask: true, CancelInProgressTask: true, CancelUnconfirmedTask: true });
        timedOut = true;
      }
      if (expired.length > 0 || timedOut) {
        const before = new Map(tasks.map((t) => [t.taskId, t.status]));
        tasks = tracker.refresh(tasks, now);
        const moved = tasks.filter((t) => before.get(t.taskId) !== t.status);
        changed = [...changed.filter((c) => !moved.some((m) => m.taskId === c.taskId)), ...moved];
        endedBadly ||= moved.length > 0;
      }
      const allFinal = tasks.length > 0 && tasks.every((t) => isFinalStatus(t.status));
      const failedByUs = tasks.some((t) => t.status === 'FAILED' && t.platformStatus !== 'FAILED');
      // Tasks are read before the firmware, so a final firmware Status is never older than the tasks shown.
      if (allFinal || endedBadly || pollsSinceFirmware >= FIRMWARE_EVERY_POLLS) await readFirmware(allFinal);
      else pollsSinceFirmware++;
      if (allFinal && !isFinalFirmware(firmwareStatus)) {
        jobStatus = (await readJob(true)).JobStatus;
        // The firmware read above may predate the job's end: read it again once the job has ended.
        if (jobStatus === 'COMPLETED' || jobStatus === 'CANCELED') await readFirmware(true);
      }
      const jobEnded = jobStatus === 'COMPLETED' || jobStatus === 'CANCELED';
      // Every device passed and the job ended, yet the firmware is not verified (yet): a verdict now
      // could fail a good firmware, so read it a while longer before saying so.
      const unsettled = allFinal && jobEnded && !isFinalFirmware(firmwareStatus) && tasks.every((t) => t.status === 'SUCCEEDED');
      if (unsettled) unsettledSince ??= now;
      const waiting = unsettled && now - (unsettledSince ?? now) < o.settleGraceMs;
      // A bench our own bound failed makes the verdict a failure whether or not the platform has
      // taken the cancel yet: every task final in our view is enough.
      const done = timedOut || isFinalFirmware(firmwareStatus) || (allFinal && (jobEnded || failedByUs) && !waiting);
      snapshot = { jobId: o.jobId, firmwareId: fwId, jobStatus, firmwareStatus, tasks, atMs: now, done, timedOut };
      tasksNow = tasks;
      unreachableSince = undefined;
    } catch (err) {
      if (!isRetryable(err)) throw err;
      unreachableSince ??= o.clock.now();
      if (o.clock.now() - unreachableSince > o.unreachableMs) {
        throw new OtaError('TRANSPORT_ERROR', `the platform was unreachable for over ${Math.round(o.unreachableMs / 1000)} s: ${errorMessage(err)}`, { cause: err });
      }
      o.log.warn({ err: errorMessage(err) }, 'platform unreachable; still watching');
      changed = [];
    }
    if (snapshot) {
      o.onSnapshot(snapshot, changed);
      if (snapshot.done) return snapshot;
    }
    // Quick while devices move, slower while nothing changes. The interval runs from the poll's start:
    // time spent queued behind other jobs in the limiter is part of it, not added to it. Never past
    // the deadline.
    intervalMs = changed.length > 0 ? o.minIntervalMs : Math.min(o.maxIntervalMs, Math.round(intervalMs * 1.5));
    let nextMs = pollStartedMs + intervalMs;
    // When the benches look about to end, poll then instead, if the budget has room to spare (an early
    // poll never delays another job's calls).
    if (o.api.idle()) nextMs = estimate.earlyPollMs(tasksNow, pollStartedMs, nextMs, 2 * o.minIntervalMs) ?? nextMs;
    let waitMs = Math.max(0, nextMs - o.clock.now());
    if (o.deadlineMs !== undefined) waitMs = Math.min(waitMs, Math.max(0, o.deadlineMs - o.clock.now()));
    await sleepOn(o.clock, waitMs, o.signal);
    if (o.signal.aborted) throw new OtaError('STOPPED', 'stopped watching');
  }
}
