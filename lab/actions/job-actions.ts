// CreateOTAVerifyJob, QueryOTAJob, ListOTAJobByFirmware, with every rule of the CreateOTAVerifyJob
// page. Refusals the platform documents no code for use the iot.ota.* codes listed in README.md.
import type { Job } from '../model.js';
import { apiError, invalidParameter } from '../api-error.js';
import { DEVICE_NAME_RULE, LIMITS, PRODUCT_KEY_RULE, TAG_KEY_RULE } from '../../shared/platform-rules.js';
import { findFirmware, page, requireProduct, type ActionHandler } from './context.js';

export const createOtaVerifyJob: ActionHandler = (ctx) => {
  const p = ctx.params;
  const firmwareId = p.string('FirmwareId', { maxLen: 64 });
  const productKey = p.string('ProductKey', PRODUCT_KEY_RULE);
  // verify job: 1 to 10 devices, unique names
  const names = p.list('TargetDeviceName', LIMITS.verifyJobDevicesMax);
  if (names.length === 0) throw apiError('MissingParameter', 'The input parameter "TargetDeviceName.N" that is mandatory for processing this request is not supplied.', 400);
  names.forEach((n, i) => { if (!DEVICE_NAME_RULE.pattern.test(n)) throw invalidParameter(`TargetDeviceName.${i + 1}`, DEVICE_NAME_RULE.describe, n); });
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw apiError('iot.ota.RepeatedDeviceName', `The device name ${JSON.stringify(dup)} appears more than once in TargetDeviceName.N.`);
  const timeoutRaw = p.optString('TimeoutInMinutes');
  const { timeoutMinutesMin: tMin, timeoutMinutesMax: tMax } = LIMITS;
  if (timeoutRaw !== undefined && (!/^\d{1,5}$/.test(timeoutRaw) || Number(timeoutRaw) < tMin || Number(timeoutRaw) > tMax)) {
    throw apiError('iot.ota.InvalidTimeout', `TimeoutInMinutes must be a whole number from ${tMin} to ${tMax}, got ${JSON.stringify(timeoutRaw)}.`);
  }
  const downloadProtocol = (p.optString('DownloadProtocol') ?? 'HTTPS').toUpperCase();
  if (downloadProtocol !== 'HTTPS' && downloadProtocol !== 'MQTT') throw invalidParameter('DownloadProtocol', 'HTTPS or MQTT', p.optString('DownloadProtocol'));
  if (downloadProtocol === 'MQTT') throw apiError('iot.ota.DownloadProtocolNotSupported', 'The lab serves firmware over HTTPS only; MQTT block download is not implemented.');
  const tags = p.groups('Tag', LIMITS.jobTagsMax).map((g, i) => {
    if (!g.Key || !TAG_KEY_RULE.pattern.test(g.Key)) throw invalidParameter(`Tag.${i + 1}.Key`, TAG_KEY_RULE.describe, g.Key);
    if (!g.Value || g.Value.length > 1024) throw invalidParameter(`Tag.${i + 1}.Value`, '1–1024 characters', g.Value);
    return { Key: g.Key, Value: g.Value };
  });
  const dupTag = tags.find((t, i) => tags.findIndex((u) => u.Key === t.Key) !== i);
  if (dupTag) throw invalidParameter('Tag.N.Key', 'unique tag keys', dupTag.Key);
  const needPush = p.optBool('NeedPush') ?? true;
  const needConfirm = p.optBool('NeedConfirm') ?? false;

  requireProduct(ctx, productKey);
  const fw = findFirmware(ctx, firmwareId);
  if (fw.productKey !== productKey) {
    throw apiError('iot.ota.FirmwareProductNotMatch', `The firmware ${firmwareId} belongs to product ${fw.productKey}, not ${productKey}.`);
  }
  // Refused while the firmware is verifying or after it is verified.
  if (fw.status === 2) throw apiError('iot.ota.FirmwareVerifying', `The firmware ${firmwareId} is being verified by another job.`);
  if (fw.status === 1) throw apiError('iot.ota.FirmwareAlreadyVerified', `The firmware ${firmwareId} is already verified.`);
  if (fw.status === -1) throw apiError('iot.ota.FirmwareNoNeedVerify', `The firmware ${firmwareId} was created without verification.`);
  const missing = names.filter((n) => !ctx.engine.device({ productKey, deviceName: n }));
  if (missing.length > 0) throw apiError('iot.device.NotExistedDevice', `These devices do not exist in product ${productKey}: ${missing.join(', ')}.`);
  const busy = names.filter((n) => ctx.engine.activeTask({ productKey, deviceName: n }, fw.moduleName));
  if (busy.length > 0) throw apiError('iot.ota.TooManyOtaTask', `These devices already have an unfinished OTA task for module ${fw.moduleName}: ${busy.join(', ')}.`);

  const { job } = ctx.engine.createVerifyJob({
    firmware: fw, deviceNames: names, needPush, needConfirm, downloadProtocol, tags,
    ...(timeoutRaw !== undefined ? { timeoutInMinutes: Number(timeoutRaw) } : {}),
  });
  return { Data: { JobId: job.jobId, UtcCreate: job.utcCreate } };
};

/** A ListOTAJobByFirmware row: the fields of the platform's SimpleOTAJobInfo. */
function jobRow(job: Job): Record<string, unknown> {
  return {
    JobId: job.jobId, JobStatus: job.status, JobType: job.jobType, FirmwareId: job.firmwareId, ProductKey: job.productKey,
    UtcCreate: job.utcCreate, UtcStartTime: job.utcStartTime, UtcEndTime: job.utcEndTime ?? '', UtcModified: job.utcEndTime ?? job.utcStartTime,
    TargetSelection: 'SPECIFIC', SelectionType: 'STATIC', Tags: { OtaTagDTO: job.tags },
  };
}

/** QueryOTAJob's Data: the row plus the job's settings; source versions as a list (SrcVersions.SrcVersion[]). */
function jobInfo(job: Job): Record<string, unknown> {
  return {
    ...jobRow(job), DestVersion: job.destVersion, SrcVersions: { SrcVersion: job.srcVersion ? [job.srcVersion] : [] },
    TimeoutInMinutes: job.timeoutInMinutes ?? 0, NeedPush: job.needPush, NeedConfirm: job.needConfirm, DownloadProtocol: job.downloadProtocol,
  };
}

export function findJob(ctx: Parameters<ActionHandler>[0], jobId: string): Job {
  const job = ctx.store.find.job(jobId);
  if (!job) throw apiError('iot.ota.InvalidJobId', `The job ${JSON.stringify(jobId)} does not exist.`);
  return job;
}

export const queryOtaJob: ActionHandler = (ctx) => ({ Data: jobInfo(findJob(ctx, ctx.params.string('JobId', { maxLen: 64 }))) });

export const listOtaJobByFirmware: ActionHandler = (ctx) => {
  const fw = findFirmware(ctx, ctx.params.string('FirmwareId', { maxLen: 64 }));
  const jobs = ctx.store.state.jobs.filter((j) => j.firmwareId === fw.firmwareId);
  const { rows, paging } = page(ctx, jobs, 200);
  return { ...paging, Data: { SimpleOTAJobInfo: rows.map(jobRow) } };
};
