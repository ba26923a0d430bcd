// Which verify job of a firmware ota-verify may watch instead of creating one: a job whose tasks
// include every bench asked. Watching a job that tests fewer benches would report "verified" for
// benches never tested, so a running job that misses some is a refusal naming them.
import { sleepOn, type Clock } from '../shared/clock.js';
import type { PlatformApi } from './platform-api.js';
import { refused, tasksOfJob, verifyJobsOf } from './verify-job.js';

export interface CoveringJob {
  jobId: string;
  jobStatus: string;
}

const RUNNING = new Set(['IN_PROGRESS', 'PLANNED']);
/** A job just created may list its tasks a moment later: ask a few times before calling it empty. */
const EMPTY_JOB_READS = 5;
const EMPTY_JOB_WAIT_MS = 400;

/** The newest job of the firmware (running ones first) whose benches include all of `devices`;
 *  `finished` also considers jobs that have ended (not cancelled ones). A running job that misses
 *  benches is refused with their names and its id. */
export async function coveringJob(api: PlatformApi, clock: Clock, o: { firmwareId: string; devices: readonly string[]; iotInstanceId?: string; finished: boolean }): Promise<CoveringJob | undefined> {
  const jobs = (await verifyJobsOf(api, o.firmwareId, o.iotInstanceId))
    .filter((j) => RUNNING.has(j.JobStatus) || (o.finished && j.JobStatus !== 'CANCELED'))
    .sort((a, b) => Number(RUNNING.has(b.JobStatus)) - Number(RUNNING.has(a.JobStatus)) || Date.parse(b.UtcCreate ?? '') - Date.parse(a.UtcCreate ?? ''));
  for (const job of jobs) {
    let names = new Set<string>();
    for (let read = 1; read <= EMPTY_JOB_READS; read++) {
      names = new Set((await tasksOfJob(api, job.JobId, o.iotInstanceId)).map((t) => t.DeviceName));
      if (names.size > 0 || !RUNNING.has(job.JobStatus)) break;
      if (read < EMPTY_JOB_READS) await sleepOn(clock, EMPTY_JOB_WAIT_MS);
    }
    const missing = o.devices.filter((d) => !names.has(d));
    if (missing.length === 0) return { jobId: job.JobId, jobStatus: job.JobStatus };
    if (RUNNING.has(job.JobStatus)) {
      throw refused(`firmware ${o.firmwareId} is being verified by job ${job.JobId}, which does not test ${missing.join(', ')}`,
        `wait for job ${job.JobId} to end (ota-verify watch ${job.JobId}), or name only benches it tests (${[...names].join(', ') || 'none'})`,
        { jobId: job.JobId, missing });
    }
  }
  return undefined;
}
