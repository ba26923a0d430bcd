// Watching a verify job: poll the tasks (every page) and the firmware, quickly while devices move and
// backing off while nothing changes, until the firmware's Status is final or every task is final and
// the job has ended. A plain state machine over an injected API and clock.
import { sleepOn, type Clock } from '../shared/clock.js';
import { OtaError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
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
  jobStatus: string;
  firmwareStatus: number;
  tasks: TaskView[];
  atMs: number;
  done: boolean;
}

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);

export interface WatchOptions {
  api: PlatformApi;
  clock: Clock;
  log: Logger;
  jobId: string;
  iotInstanceId?: string;
  minIntervalMs: number;
  maxIntervalMs: number;
  /** How long the platform may stay unreachable before the watch gives up (exit 3). */
  unreachableMs: number;
  signal: AbortSignal;
  onSnapshot: (s: Snapshot, changed: TaskView[]) => void;
}

interface RawTask { TaskId: string; DeviceName: string; TaskStatus: string; Progress?: string | number; TaskDesc?: string; SrcVersion?: string; DestVersion?: string }

export async function watchJob(o: WatchOptions): Promise<Snapshot> {
  const job = await o.api.request('QueryOTAJob', { JobId: o.jobId, IotInstanceId: o.iotInstanceId });
  const jobData = job.Data as { FirmwareId: string; JobStatus: string };
  const known = new Map<string, TaskView>();
  let intervalMs = o.minIntervalMs;
  let unreachableSince: number | undefined;
  let jobStatus = jobData.JobStatus;
  for (;;) {
    let snapshot: Snapshot | undefined;
    let changed: TaskView[] = [];
    try {
      // Firmware first: its final status comes after every task's, so tasks read next are never older.
      let fw = await queryFirmware(o.api, jobData.FirmwareId, o.iotInstanceId);
      const rows = await o.api.all<RawTask>('ListOTATaskByJob', { JobId: o.jobId, IotInstanceId: o.iotInstanceId }, 100, (r) => ((r.Data as { SimpleOTATaskInfo?: RawTask[] } | undefined)?.SimpleOTATaskInfo ?? []));
      const now = o.clock.now();
      const tasks = rows.map((r): TaskView => {
        const prev = known.get(r.TaskId);
        const view: TaskView = {
          taskId: r.TaskId, deviceName: r.DeviceName, status: r.TaskStatus, progress: Number(r.Progress ?? 0), desc: r.TaskDesc ?? '',
          srcVersion: r.SrcVersion ?? '', destVersion: r.DestVersion ?? '', sinceMs: prev && prev.status === r.TaskStatus ? prev.sinceMs : now,
        };
        if (!prev || prev.status !== view.status || prev.progress !== view.progress || prev.desc !== view.desc) changed.push(view);
        known.set(r.TaskId, view);
        return view;
      });
      const allFinal = tasks.length > 0 && tasks.every((t) => FINAL.has(t.status));
      if (allFinal || fw.Status === 1 || fw.Status === 3) {
        jobStatus = String(((await o.api.request('QueryOTAJob', { JobId: o.jobId, IotInstanceId: o.iotInstanceId })).Data as { JobStatus: string }).JobStatus);
        // The firmware read above may predate the last task's end: read it again after the job.
        if (allFinal && fw.Status !== 1 && fw.Status !== 3) fw = await queryFirmware(o.api, jobData.FirmwareId, o.iotInstanceId);
      }
      const done = fw.Status === 1 || fw.Status === 3 || (allFinal && (jobStatus === 'COMPLETED' || jobStatus === 'CANCELED'));
      snapshot = { jobId: o.jobId, firmwareId: jobData.FirmwareId, jobStatus, firmwareStatus: fw.Status, tasks, atMs: now, done };
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
    // Quick while devices move, slower while nothing changes.
    intervalMs = changed.length > 0 ? o.minIntervalMs : Math.min(o.maxIntervalMs, Math.round(intervalMs * 1.5));
    await sleepOn(o.clock, intervalMs, o.signal);
    if (o.signal.aborted) throw new OtaError('STOPPED', 'stopped watching');
  }
}
