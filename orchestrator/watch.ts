// Watching a verify job: poll the tasks (every page) and the firmware, quickly while devices move and
// backing off while nothing changes, until the firmware's Status is final or every task is final and
// the job has ended. A plain state machine over an injected API and clock.
import { sleepOn, type Clock } from '../shared/clock.js';
import { OtaError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { FINAL_TASK_STATUSES, FIRMWARE_STATUS } from '../shared/platform-rules.js';
import { isRetryable, type PlatformApi } from './platform-api.js';
import { queryFirmware } from './verify-job.js';

export interface TaskView {
  taskId: string;
  deviceName: string;
  status: string;
  progress: number;
  desc: string;
  srcVersion: string;
  destVersion: string;
  /** When this process first saw the task in its current status. */
  sinceMs: number;
}

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
}

const FINAL: ReadonlySet<string> = FINAL_TASK_STATUSES;

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
  signal: AbortSignal;
  onSnapshot: (s: Snapshot, changed: TaskView[]) => void;
}

interface RawTask { TaskId: string; DeviceName: string; TaskStatus: string; Progress?: string | number; TaskDesc?: string; SrcVersion?: string; DestVersion?: string }

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
  if (firmwareId === undefined) {
    const job = (await o.api.request('QueryOTAJob', { JobId: o.jobId, IotInstanceId: o.iotInstanceId })).Data as { FirmwareId: string; JobStatus: string };
    firmwareId = job.FirmwareId;
    jobStatus = job.JobStatus;
  }
  const fwId = firmwareId;
  const known = new Map<string, TaskView>();
  let intervalMs = o.minIntervalMs;
  let unreachableSince: number | undefined;
  let firmwareStatus: number | null = null;
  let pollsSinceFirmware = 0;
  let unsettledSince: number | undefined;
  const readFirmware = async (urgent: boolean) => {
    firmwareStatus = (await queryFirmware(o.api, fwId, o.iotInstanceId, { urgent })).Status;
    pollsSinceFirmware = 0;
  };
  for (;;) {
    let snapshot: Snapshot | undefined;
    let changed: TaskView[] = [];
    const pollStartedMs = o.clock.now();
    try {
      const rows = await o.api.all<RawTask>('ListOTATaskByJob', { JobId: o.jobId, IotInstanceId: o.iotInstanceId }, 100, (r) => ((r.Data as { SimpleOTATaskInfo?: RawTask[] } | undefined)?.SimpleOTATaskInfo ?? []));
      const now = o.clock.now();
      let endedBadly = false;
      const tasks = rows.map((r): TaskView => {
        const prev = known.get(r.TaskId);
        const view: TaskView = {
          taskId: r.TaskId, deviceName: r.DeviceName, status: r.TaskStatus, progress: Number(r.Progress ?? 0), desc: r.TaskDesc ?? '',
          srcVersion: r.SrcVersion ?? '', destVersion: r.DestVersion ?? '', sinceMs: prev && prev.status === r.TaskStatus ? prev.sinceMs : now,
        };
        if (!prev || prev.status !== view.status || prev.progress !== view.progress || prev.desc !== view.desc) changed.push(view);
        if (prev?.status !== view.status && (view.status === 'FAILED' || view.status === 'CANCELED')) endedBadly = true;
        known.set(r.TaskId, view);
        return view;
      });
      const allFinal = tasks.length > 0 && tasks.every((t) => FINAL.has(t.status));
      // Tasks are read before the firmware, so a final firmware Status is never older than the tasks shown.
      if (allFinal || endedBadly || pollsSinceFirmware >= FIRMWARE_EVERY_POLLS) await readFirmware(allFinal);
      else pollsSinceFirmware++;
      if (allFinal && !isFinalFirmware(firmwareStatus)) {
        jobStatus = String(((await o.api.request('QueryOTAJob', { JobId: o.jobId, IotInstanceId: o.iotInstanceId }, { urgent: true })).Data as { JobStatus: string }).JobStatus);
        // The firmware read above may predate the job's end: read it again once the job has ended.
        if (jobStatus === 'COMPLETED' || jobStatus === 'CANCELED') await readFirmware(true);
      }
      const jobEnded = jobStatus === 'COMPLETED' || jobStatus === 'CANCELED';
      // Every device passed and the job ended, yet the firmware is not verified (yet): a verdict now
      // could fail a good firmware, so read it a while longer before saying so.
      const unsettled = allFinal && jobEnded && !isFinalFirmware(firmwareStatus) && tasks.every((t) => t.status === 'SUCCEEDED');
      if (unsettled) unsettledSince ??= now;
      const waiting = unsettled && now - (unsettledSince ?? now) < o.settleGraceMs;
      const done = isFinalFirmware(firmwareStatus) || (allFinal && jobEnded && !waiting);
      snapshot = { jobId: o.jobId, firmwareId: fwId, jobStatus, firmwareStatus, tasks, atMs: now, done };
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
    // time spent queued behind other jobs in the limiter is part of it, not added to it.
    intervalMs = changed.length > 0 ? o.minIntervalMs : Math.min(o.maxIntervalMs, Math.round(intervalMs * 1.5));
    await sleepOn(o.clock, Math.max(0, pollStartedMs + intervalMs - o.clock.now()), o.signal);
    if (o.signal.aborted) throw new OtaError('STOPPED', 'stopped watching');
  }
}
