// watch, status, cancel, firmware: the commands about a job or firmware that exists.
import { isOtaError } from '../../shared/errors.js';
import { firmwareStatusWord } from '../../shared/platform-rules.js';
import { parseAnswer, type FirmwareInfo, type JobDetail, type TaskRow } from '../platform-schemas.js';
import { queryFirmware, refused, tasksOfJob } from '../verify-job.js';
import { reportError, type RunFacts } from './verdict-output.js';
import { session, type Session, type SessionArgs } from './session.js';
import { watchBoundsOf, watchToVerdict, type WatchLimits } from './watch-verdict.js';


/** `status --json` and `firmware --json`: our own camelCase documents (README, ota-verify section),
 *  not the platform's answers, so a field the platform renames does not change what scripts read. */
export const STATUS_SCHEMA = 'ota-verify/status@1';
export const FIRMWARE_SCHEMA = 'ota-verify/firmware@1';

function firmwareDocument(fw: FirmwareInfo) {
  return {
    firmwareId: fw.FirmwareId, name: fw.FirmwareName ?? null, productKey: fw.ProductKey, module: fw.ModuleName,
    destVersion: fw.DestVersion, srcVersion: fw.SrcVersion || null, delta: fw.Type === 1 || Boolean(fw.SrcVersion),
    status: fw.Status, statusText: firmwareStatusWord(fw.Status), verifyProgress: fw.VerifyProgress,
  };
}

function taskDocument(r: TaskRow) {
  return { deviceName: r.DeviceName, taskId: r.TaskId, status: r.TaskStatus, progress: r.Progress, desc: r.TaskDesc, srcVersion: r.SrcVersion, destVersion: r.DestVersion };
}

export async function runWatch(a: SessionArgs & WatchLimits & { jobId: string }): Promise<number> {
  const facts: RunFacts = { firmwareId: '', productKey: '', startedMs: Date.now(), warnings: [], devices: [], jobId: a.jobId, firmwareStatus: null };
  try {
    const s = await session(a);
    const job = await jobOf(s, a.jobId);
    facts.firmwareId = job.FirmwareId;
    facts.productKey = job.ProductKey;
    return await watchToVerdict(s, a.jobId, facts, watchBoundsOf(a, facts.startedMs), job.JobStatus);
  } catch (err) {
    await reportError(a, facts, err);
    throw err;
  }
}

async function jobOf(s: Session, jobId: string): Promise<JobDetail> {
  try {
    return parseAnswer('QueryOTAJob', await s.api.request('QueryOTAJob', { JobId: jobId, IotInstanceId: s.target.iotInstanceId })).Data;
  } catch (err) {
    if (isOtaError(err, 'PLATFORM_ERROR') && err.details.platformCode === 'iot.ota.InvalidJobId') throw refused(`job ${jobId} does not exist`, 'a JobId from ota-verify verify');
    throw err;
  }
}

export async function runStatus(a: SessionArgs & { jobId: string }): Promise<number> {
  const s = await session(a);
  const job = await jobOf(s, a.jobId);
  const [fw, rows] = await Promise.all([queryFirmware(s.api, job.FirmwareId, s.target.iotInstanceId), tasksOfJob(s.api, a.jobId, s.target.iotInstanceId)]);
  if (a.json) {
    const doc = {
      schema: STATUS_SCHEMA, jobId: a.jobId, jobStatus: job.JobStatus, productKey: job.ProductKey,
      firmwareId: job.FirmwareId, firmwareStatus: fw.Status, firmwareStatusText: firmwareStatusWord(fw.Status), tasks: rows.map(taskDocument),
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    process.stdout.write(`job ${a.jobId}: ${job.JobStatus}; firmware ${job.FirmwareId} status ${fw.Status} (${firmwareStatusWord(fw.Status)})\n`);
    for (const r of rows) process.stdout.write(`  ${r.DeviceName.padEnd(14)} ${r.TaskStatus.padEnd(11)} ${Math.round(r.Progress).toString().padStart(3)}%  ${r.TaskDesc}\n`);
  }
  return 0;
}

export async function runCancel(a: SessionArgs & { jobId: string }): Promise<number> {
  const s = await session(a);
  await jobOf(s, a.jobId);
  await s.api.request('CancelOTATaskByJob', { JobId: a.jobId, CancelQueuedTask: true, CancelNotifiedTask: true, CancelInProgressTask: true, CancelUnconfirmedTask: true, IotInstanceId: s.target.iotInstanceId });
  process.stdout.write(`cancelled the unfinished tasks of job ${a.jobId}\n`);
  if (!a.quiet) {
    process.stderr.write('The platform marks them CANCELED and sends no further notices; a bench already downloading or installing is not told and carries on to the end (its later reports no longer count), and the firmware\'s verification fails.\n');
  }
  return 0;
}

export async function runFirmware(a: SessionArgs & { firmwareId: string }): Promise<number> {
  const s = await session(a);
  const fw = await queryFirmware(s.api, a.firmwareId, s.target.iotInstanceId);
  if (a.json) process.stdout.write(`${JSON.stringify({ schema: FIRMWARE_SCHEMA, ...firmwareDocument(fw) }, null, 2)}\n`);
  else process.stdout.write(`firmware ${fw.FirmwareId}${fw.FirmwareName ? ` (${fw.FirmwareName})` : ''}: product ${fw.ProductKey}, module ${fw.ModuleName}, version ${fw.DestVersion}: ${firmwareStatusWord(fw.Status)}${fw.Status === 2 ? `, ${fw.VerifyProgress}% of devices finished` : ''}\n`);
  return 0;
}
