// Two runs at once (a CI retry, two pipelines) for the same firmware and benches: the platform lets
// only one create succeed. The other's refusal ("verifying", "already verified", "device busy") means
// someone else is proving the same thing, so it takes the preflight's path: find that job and watch it
// to the same verdict. Only when no job of this firmware covers the benches is the refusal final,
// and a busy bench is then named with the task that holds it.
import type { Clock } from '../shared/clock.js';
import type { OtaError } from '../shared/errors.js';
import { FIRMWARE_STATUS } from '../shared/platform-rules.js';
import { coveringJob } from './job-coverage.js';
import type { PlatformApi } from './platform-api.js';
import type { Plan } from './preflight.js';
import { UnfinishedTasks } from './unfinished-tasks.js';
import { queryFirmware, refused } from './verify-job.js';
import type { VerifyRequest } from './verify-request.js';

export async function planAfterContendedCreate(api: PlatformApi, clock: Clock, req: VerifyRequest, err: OtaError): Promise<Plan> {
  const instance = req.iotInstanceId ? { iotInstanceId: req.iotInstanceId } : {};
  const firmware = await queryFirmware(api, req.firmwareId, req.iotInstanceId, { urgent: true });
  const job = await coveringJob(api, clock, { firmwareId: req.firmwareId, devices: req.devices, finished: true, ...instance });
  if (job) return { kind: 'attach', firmware, jobId: job.jobId, warnings: [`another run created verify job ${job.jobId} for this firmware on these benches at the same time; watching that job`] };
  if (firmware.Status === FIRMWARE_STATUS.verified) return { kind: 'done', firmware, verdict: 'already-verified', warnings: [] };
  if (err.details.platformCode === 'iot.ota.TooManyOtaTask') {
    const unfinished = new UnfinishedTasks(api, req.iotInstanceId);
    // The first answer teaches the filter's form; the others then use it.
    const first = req.devices[0] as string;
    const held = new Map([[first, await unfinished.of(req.productKey, first)]]);
    const rest = await Promise.all(req.devices.slice(1).map(async (d) => [d, await unfinished.of(req.productKey, d)] as const));
    for (const [d, rows] of rest) held.set(d, rows);
    const busy = [...held].filter(([, rows]) => rows.length > 0);
    if (busy.length > 0) {
      const what = busy.map(([d, rows]) => `${d} (${rows.map((t) => `task ${t.TaskId}${t.JobId ? ` of job ${t.JobId}` : ''}${t.FirmwareId ? `, firmware ${t.FirmwareId}` : ''}, ${t.TaskStatus}`).join('; ')})`);
      throw refused(`bench(es) busy with another OTA task: ${what.join(', ')}`, 'benches with no unfinished OTA task (wait for it, or cancel it)', { devices: busy.map(([d]) => d) });
    }
  }
  throw err;
}
