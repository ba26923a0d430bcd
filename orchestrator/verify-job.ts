// The firmware, its verify jobs and their tasks as ota-verify reads them, and the create. After a
// transport error on the create we look before any retry (a create is not idempotent); a refusal that
// means "this firmware is being (or was) verified by someone else" is told apart from the others so
// the caller can attach to that job instead of failing.
import { OtaError, isOtaError } from '../shared/errors.js';
import { LIMITS } from '../shared/platform-rules.js';
import type { PlatformApi } from './platform-api.js';
import { parseAnswer, rowsOf, type FirmwareInfo, type JobRow, type TaskRow } from './platform-schemas.js';
import type { VerifyRequest } from './verify-request.js';

export type { FirmwareInfo } from './platform-schemas.js';

export function refused(message: string, expected?: string, details: Record<string, unknown> = {}): OtaError {
  return new OtaError('REFUSED', message, { ...(expected ? { expected } : {}), details });
}

export async function queryFirmware(api: PlatformApi, firmwareId: string, instance?: string, opts: { urgent?: boolean } = {}): Promise<FirmwareInfo> {
  try {
    return parseAnswer('QueryOTAFirmware', await api.request('QueryOTAFirmware', { FirmwareId: firmwareId, IotInstanceId: instance }, opts)).FirmwareInfo;
  } catch (err) {
    if (isOtaError(err, 'PLATFORM_ERROR') && err.details.platformCode === 'iot.ota.FirmwareNotFound') throw refused(`firmware ${firmwareId} does not exist`, 'a FirmwareId of this account');
    throw err;
  }
}

export async function verifyJobsOf(api: PlatformApi, firmwareId: string, instance?: string): Promise<JobRow[]> {
  const rows = await api.all('ListOTAJobByFirmware', { FirmwareId: firmwareId, IotInstanceId: instance }, LIMITS.jobPageSizeMax,
    (r) => rowsOf(parseAnswer('ListOTAJobByFirmware', r).Data, 'SimpleOTAJobInfo'));
  return rows.filter((j) => j.JobType === 'VERIFY_FIRMWARE');
}

/** Every task of a job, every page. */
export async function tasksOfJob(api: PlatformApi, jobId: string, instance?: string, opts: { urgent?: boolean } = {}): Promise<TaskRow[]> {
  return api.all('ListOTATaskByJob', { JobId: jobId, IotInstanceId: instance }, LIMITS.pageSizeMax,
    (r) => rowsOf(parseAnswer('ListOTATaskByJob', r).Data, 'SimpleOTATaskInfo'), opts);
}

/** Create refusals that mean another run got there first: the firmware is being verified, is
 *  verified, or a bench is busy (possibly with that other run's task). */
export const CONTENDED_CODES: ReadonlySet<string> = new Set(['iot.ota.FirmwareVerifying', 'iot.ota.FirmwareAlreadyVerified', 'iot.ota.TooManyOtaTask']);

export function isContended(err: unknown): err is OtaError {
  return isOtaError(err, 'PLATFORM_ERROR') && CONTENDED_CODES.has(String(err.details.platformCode));
}

export async function createVerifyJob(api: PlatformApi, req: VerifyRequest, nowMs: () => number): Promise<string> {
  const params = {
    FirmwareId: req.firmwareId, ProductKey: req.productKey, TargetDeviceName: req.devices, TimeoutInMinutes: req.timeoutMinutes,
    NeedPush: req.needPush, NeedConfirm: req.needConfirm, DownloadProtocol: req.downloadProtocol, Tag: req.tags.length ? req.tags : undefined,
    IotInstanceId: req.iotInstanceId,
  };
  const startedMs = nowMs();
  for (let attempt = 1; ; attempt++) {
    try {
      return parseAnswer('CreateOTAVerifyJob', await api.request('CreateOTAVerifyJob', params, { retry: false })).Data.JobId;
    } catch (err) {
      if (!isOtaError(err, 'TRANSPORT_ERROR') || attempt >= 3) throw err;
      // The create may have happened: look first.
      const made = (await verifyJobsOf(api, req.firmwareId, req.iotInstanceId)).find((j) => j.JobStatus !== 'CANCELED' && (!j.UtcCreate || Date.parse(j.UtcCreate) >= startedMs - 60_000));
      if (made) return made.JobId;
    }
  }
}
