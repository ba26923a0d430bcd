// verify, watch, status, cancel, firmware: each builds one session (target, limiter, API) and runs.
import { systemClock } from '../../shared/clock.js';
import { isOtaError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { createOpenApiCall } from '../../shared/openapi-client.js';
import { PlatformApi } from '../platform-api.js';
import { RateLimiter } from '../rate-limiter.js';
import { resolveTarget, type Target, type TargetArgs } from '../target.js';
import { LiveView, devicesOf, junitXml, writeAtomic, type VerifyResult } from '../report.js';
import { checkVerifyRequest } from '../verify-request.js';
import { createVerifyJob, planVerify, queryFirmware, refused } from '../verify-job.js';
import { watchJob, type Snapshot } from '../watch.js';
import type { UploadArgs } from '../upload-request.js';

export interface SessionArgs extends TargetArgs {
  json: boolean;
  junit?: string;
  quiet: boolean;
  budget: number;
  pollMinMs: number;
  pollMaxMs: number;
  logLevel: string;
  cancelOnInterrupt: boolean;
}

export interface Session {
  api: PlatformApi;
  target: Target;
  log: Logger;
  view: LiveView;
  args: SessionArgs;
}

export async function session(a: SessionArgs): Promise<Session> {
  const target = await resolveTarget(a);
  const log = createLogger({ name: 'ota-verify', level: a.logLevel, secrets: target.secrets });
  const api = new PlatformApi({
    call: createOpenApiCall(target), limiter: new RateLimiter(systemClock, a.budget), clock: systemClock, log,
    maxAttempts: 6, backoffBaseMs: 500, backoffMaxMs: 8000,
  });
  // With --json, stdout carries only the document; people read the live view on stderr.
  return { api, target, log, view: new LiveView(a.json ? process.stderr : process.stdout, a.quiet), args: a };
}

function watchHint(s: Session, jobId: string): string {
  const where = s.args.lab ? `--lab ${s.args.lab}` : `--region ${s.target.regionId}`;
  return `ota-verify watch ${jobId} ${where}`;
}

async function finish(s: Session, r: VerifyResult): Promise<number> {
  if (s.args.junit) await writeAtomic(s.args.junit, junitXml(r));
  if (s.args.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  return r.exitCode;
}

function result(s: Session, base: { firmwareId: string; productKey: string; startedMs: number; warnings: string[] }, snap: Snapshot | undefined, verdict: VerifyResult['verdict']): VerifyResult {
  const exitCode = { verified: 0, 'already-verified': 0, 'no-verification-needed': 0, created: 0, failed: 1, stopped: 4 }[verdict];
  const end = Date.now();
  return {
    schema: 'ota-verify/result@1', verdict, exitCode, firmwareId: base.firmwareId, productKey: base.productKey, jobId: snap?.jobId ?? null,
    jobStatus: snap?.jobStatus ?? null, firmwareStatus: snap?.firmwareStatus ?? null, startedAt: new Date(base.startedMs).toISOString(),
    endedAt: new Date(end).toISOString(), durationMs: end - base.startedMs, warnings: base.warnings, devices: devicesOf(snap),
  };
}

/** Watch to the end (or Ctrl-C) and turn the last snapshot into a verdict. */
async function watchToVerdict(s: Session, jobId: string, base: { firmwareId: string; productKey: string; startedMs: number; warnings: string[] }, jobStatus?: string): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let last: Snapshot | undefined;
  s.view.say(`watching verify job ${jobId} (re-attach with: ${watchHint(s, jobId)})`);
  try {
    last = await watchJob({
      api: s.api, clock: systemClock, log: s.log, jobId, firmwareId: base.firmwareId, ...(jobStatus ? { jobStatus } : {}), minIntervalMs: s.args.pollMinMs, maxIntervalMs: s.args.pollMaxMs,
      unreachableMs: 5 * 60_000, settleGraceMs: 2 * 60_000, signal: abort.signal, ...(s.target.iotInstanceId ? { iotInstanceId: s.target.iotInstanceId } : {}),
      onSnapshot: (snap, changed) => { last = snap; s.view.update(snap, changed); },
    });
  } catch (err) {
    if (!isOtaError(err, 'STOPPED')) throw err;
    if (s.args.cancelOnInterrupt) {
      await s.api.request('CancelOTATaskByJob', { JobId: jobId, CancelQueuedTask: true, CancelNotifiedTask: true, CancelInProgressTask: true, CancelUnconfirmedTask: true });
      process.stderr.write(`stopped; job ${jobId} cancelled\n`);
    } else {
      process.stderr.write(`stopped watching; the job goes on. Re-attach with:\n  ${watchHint(s, jobId)}\n`);
    }
    return finish(s, result(s, base, last, 'stopped'));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const verdict = last.firmwareStatus === 1 ? 'verified' : 'failed';
  const r = result(s, { ...base, firmwareId: last.firmwareId }, last, verdict);
  s.view.summary(r);
  const notPassed = r.devices.filter((x) => x.status !== 'SUCCEEDED');
  for (const d of notPassed) s.view.say(`FAILED ${d.deviceName}: ${d.status}${d.desc ? ` - ${d.desc}` : ''}`);
  if (verdict === 'failed' && notPassed.length === 0) s.view.say(`every device passed, but the platform left the firmware at Status ${last.firmwareStatus ?? 'unknown'} (not 1, verified) after the job ended`);
  s.view.say(verdict === 'verified' ? `firmware ${r.firmwareId} is verified` : `firmware ${r.firmwareId} failed verification`);
  return finish(s, r);
}

export interface VerifyArgs extends SessionArgs {
  productKey?: string;
  firmwareId?: string;
  devices: string[];
  timeoutMinutes?: number;
  tags: string[];
  push: boolean;
  needConfirm: boolean;
  downloadProtocol: string;
  wait: boolean;
  /** --file: upload and register this file (or find it registered) and verify that firmware. */
  upload?: UploadArgs;
}

export async function runVerify(a: VerifyArgs): Promise<number> {
  const startedMs = Date.now();
  // Local checks first: no API call for a request that cannot be right.
  const target = a.lab ? await resolveTarget(a) : undefined;
  // --file: the file is checked here with the rest; its FirmwareId comes from the upload step below.
  const fileStep = a.upload ? await import('./upload-command.js') : undefined;
  const fromFile = a.upload && fileStep ? await fileStep.checkedUpload({ ...a, upload: a.upload }) : undefined;
  const req = checkVerifyRequest({ productKey: a.productKey ?? target?.productKey, firmwareId: a.firmwareId ?? (fromFile ? '(from --file)' : undefined), devices: a.devices, timeoutMinutes: a.timeoutMinutes, tags: a.tags, needPush: a.push, needConfirm: a.needConfirm, downloadProtocol: a.downloadProtocol, ...(a.instanceId ? { iotInstanceId: a.instanceId } : {}) });
  const s = await session(a);
  if (fromFile && fileStep) req.firmwareId = (await fileStep.uploadStep(s, fromFile, (line) => s.view.say(line))).firmwareId;
  const plan = await planVerify(s.api, req);
  for (const w of plan.warnings) process.stderr.write(`warning: ${w}\n`);
  const base = { firmwareId: req.firmwareId, productKey: req.productKey, startedMs, warnings: plan.warnings };
  if (plan.kind === 'done') {
    s.view.say(plan.verdict === 'already-verified' ? `firmware ${req.firmwareId} is already verified` : `firmware ${req.firmwareId} needs no verification`);
    return finish(s, result(s, base, undefined, plan.verdict));
  }
  const jobId = plan.kind === 'attach' ? plan.jobId : await createVerifyJob(s.api, req, () => Date.now());
  // With --no-wait, stdout carries only the JobId so scripts can capture it.
  const created = `created verify job ${jobId} for firmware ${req.firmwareId} (${plan.firmware.DestVersion}) on ${req.devices.join(', ')}`;
  if (plan.kind === 'create') {
    if (a.wait) s.view.say(created);
    else if (!a.quiet) process.stderr.write(`${created}\n`);
  }
  if (!a.wait) {
    process.stdout.write(a.json ? `${JSON.stringify({ ...result(s, base, undefined, 'created'), jobId })}\n` : `${jobId}\n`);
    return 0;
  }
  return watchToVerdict(s, jobId, base);
}

export async function runWatch(a: SessionArgs & { jobId: string }): Promise<number> {
  const s = await session(a);
  const job = await jobOf(s, a.jobId);
  return watchToVerdict(s, a.jobId, { firmwareId: job.FirmwareId, productKey: job.ProductKey, startedMs: Date.now(), warnings: [] }, job.JobStatus);
}

async function jobOf(s: Session, jobId: string): Promise<{ FirmwareId: string; ProductKey: string; JobStatus: string; JobType: string }> {
  try {
    return (await s.api.request('QueryOTAJob', { JobId: jobId, IotInstanceId: s.target.iotInstanceId })).Data as { FirmwareId: string; ProductKey: string; JobStatus: string; JobType: string };
  } catch (err) {
    if (isOtaError(err, 'PLATFORM_ERROR') && err.details.platformCode === 'iot.ota.InvalidJobId') throw refused(`job ${jobId} does not exist`, 'a JobId from ota-verify verify');
    throw err;
  }
}

export async function runStatus(a: SessionArgs & { jobId: string }): Promise<number> {
  const s = await session(a);
  const job = await jobOf(s, a.jobId);
  const fw = await queryFirmware(s.api, job.FirmwareId, s.target.iotInstanceId);
  const rows = await s.api.all<{ DeviceName: string; TaskStatus: string; Progress: string; TaskDesc: string }>('ListOTATaskByJob', { JobId: a.jobId }, 100, (r) => ((r.Data as { SimpleOTATaskInfo?: never[] } | undefined)?.SimpleOTATaskInfo ?? []));
  if (a.json) {
    process.stdout.write(`${JSON.stringify({ jobId: a.jobId, jobStatus: job.JobStatus, firmwareId: job.FirmwareId, firmwareStatus: fw.Status, tasks: rows }, null, 2)}\n`);
  } else {
    process.stdout.write(`job ${a.jobId}: ${job.JobStatus}; firmware ${job.FirmwareId} status ${fw.Status} (${['needs no verification', 'unverified', 'verified', 'verifying', 'verification failed'][fw.Status + 1] ?? '?'})\n`);
    for (const r of rows) process.stdout.write(`  ${r.DeviceName.padEnd(14)} ${r.TaskStatus.padEnd(11)} ${Math.round(Number(r.Progress)).toString().padStart(3)}%  ${r.TaskDesc}\n`);
  }
  return 0;
}

export async function runCancel(a: SessionArgs & { jobId: string }): Promise<number> {
  const s = await session(a);
  await jobOf(s, a.jobId);
  await s.api.request('CancelOTATaskByJob', { JobId: a.jobId, CancelQueuedTask: true, CancelNotifiedTask: true, CancelInProgressTask: true, CancelUnconfirmedTask: true });
  process.stdout.write(`cancelled the unfinished tasks of job ${a.jobId}\n`);
  return 0;
}

export async function runFirmware(a: SessionArgs & { firmwareId: string }): Promise<number> {
  const s = await session(a);
  const fw = await queryFirmware(s.api, a.firmwareId, s.target.iotInstanceId);
  const label = ['needs no verification', 'unverified', 'verified', 'verifying', 'verification failed'][fw.Status + 1] ?? `status ${fw.Status}`;
  if (a.json) process.stdout.write(`${JSON.stringify(fw, null, 2)}\n`);
  else process.stdout.write(`firmware ${fw.FirmwareId}${fw.FirmwareName ? ` (${fw.FirmwareName})` : ''}: product ${fw.ProductKey}, module ${fw.ModuleName}, version ${fw.DestVersion}: ${label}${fw.Status === 2 ? `, ${fw.VerifyProgress}% of devices finished` : ''}\n`);
  return 0;
}
