// verify: check, create the verify job (or find the one already proving the same thing), watch it to
// the verdict. Reports are written on every exit.
import { systemClock } from '../../shared/clock.js';
import { planAfterContendedCreate } from '../contention.js';
import { planVerify, type Plan } from '../preflight.js';
import { resolveTarget } from '../target.js';
import { checkVerifyRequest, type VerifyRequest } from '../verify-request.js';
import { createVerifyJob, isContended } from '../verify-job.js';
import { reportError, resultOf, writeReports, type RunFacts } from './verdict-output.js';
import { session, type Session, type SessionArgs } from './session.js';
import { watchBoundsOf, watchToVerdict, type WatchLimits } from './watch-verdict.js';
import type { UploadArgs } from '../upload-request.js';

export interface VerifyArgs extends SessionArgs, WatchLimits {
  productKey?: string;
  firmwareId?: string;
  devices: string[];
  timeoutMinutes?: number;
  tags: string[];
  push: boolean;
  needConfirm: boolean;
  downloadProtocol: string;
  wait: boolean;
  skipCurrent: boolean;
  /** --file: upload and register this file (or find it registered) and verify that firmware. */
  upload?: UploadArgs;
}

export async function runVerify(a: VerifyArgs): Promise<number> {
  const startedMs = Date.now();
  const facts: RunFacts = { firmwareId: a.firmwareId ?? '', productKey: a.productKey ?? '', startedMs, warnings: [], devices: a.devices.flatMap((d) => d.split(',')).map((d) => d.trim()).filter(Boolean), jobId: null, firmwareStatus: null };
  try {
    // Local checks first: no API call for a request that cannot be right.
    const target = a.lab ? await resolveTarget(a) : undefined;
    // --file: the file is checked here with the rest; its FirmwareId comes from the upload step below.
    const fileStep = a.upload ? await import('./upload-command.js') : undefined;
    const fromFile = a.upload && fileStep ? await fileStep.checkedUpload({ ...a, upload: a.upload }) : undefined;
    const checked = checkVerifyRequest({ productKey: a.productKey ?? target?.productKey, firmwareId: a.firmwareId ?? (fromFile ? 'from-file' : undefined), devices: a.devices, timeoutMinutes: a.timeoutMinutes, tags: a.tags, needPush: a.push, needConfirm: a.needConfirm, downloadProtocol: a.downloadProtocol, ...(a.instanceId ? { iotInstanceId: a.instanceId } : {}) });
    facts.productKey = checked.productKey;
    const s = await session(a);
    const req = fromFile && fileStep ? { ...checked, firmwareId: (await fileStep.uploadStep(s, fromFile, (line) => s.view.say(line))).firmwareId } : checked;
    facts.firmwareId = req.firmwareId;
    return await verifyChecked(s, a, req, facts);
  } catch (err) {
    await reportError(a, facts, err);
    throw err;
  }
}

async function verifyChecked(s: Session, a: VerifyArgs, asked: VerifyRequest, facts: RunFacts): Promise<number> {
  let plan: Plan = await planVerify(s.api, systemClock, asked, { skipCurrent: a.skipCurrent, onFirmware: (f) => { facts.firmwareStatus = f.Status; } });
  facts.firmwareStatus = plan.firmware.Status;
  let req = asked;
  let jobId: string | undefined;
  if (plan.kind === 'create') {
    req = { ...asked, devices: plan.devices };
    facts.devices = plan.devices;
    warn(s, facts, plan.warnings);
    try {
      jobId = await createVerifyJob(s.api, req, () => Date.now());
    } catch (err) {
      // Someone else created it first: the same path as a preflight that found their job.
      if (!isContended(err)) throw err;
      plan = await planAfterContendedCreate(s.api, systemClock, req, err);
      facts.firmwareStatus = plan.firmware.Status;
    }
  }
  if (plan.kind !== 'create') warn(s, facts, plan.warnings);
  if (plan.kind === 'done') {
    s.view.say(plan.verdict === 'already-verified' ? `firmware ${req.firmwareId} is already verified` : `firmware ${req.firmwareId} needs no verification`);
    return writeReports(s.args, resultOf(facts, plan.verdict));
  }
  if (plan.kind === 'attach') jobId = plan.jobId;
  if (jobId === undefined) throw new Error('no job to watch');
  facts.jobId = jobId;
  // With --no-wait, stdout carries only the JobId so scripts can capture it.
  const created = `created verify job ${jobId} for firmware ${req.firmwareId} (${plan.firmware.DestVersion}) on ${req.devices.join(', ')}`;
  if (plan.kind === 'create') {
    if (a.wait) s.view.say(created);
    else if (!a.quiet) process.stderr.write(`${created}\n`);
  }
  if (!a.wait) {
    process.stdout.write(a.json ? `${JSON.stringify(resultOf(facts, 'created'))}\n` : `${jobId}\n`);
    if (a.junit) await writeReports({ json: false, junit: a.junit }, resultOf(facts, 'created'));
    return 0;
  }
  return watchToVerdict(s, jobId, facts, watchBoundsOf(a, facts.startedMs));
}

function warn(s: Session, facts: RunFacts, warnings: string[]): void {
  for (const w of warnings) {
    facts.warnings.push(w);
    if (!s.args.quiet) process.stderr.write(`warning: ${w}\n`);
  }
}
