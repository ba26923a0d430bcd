// Before creating anything: the firmware and each device are checked with the platform; then the
// verify job is created, and after a transport error on the create we look before any retry (a
// create is not idempotent).
import { OtaError, isOtaError } from '../shared/errors.js';
import { FIRMWARE_STATUS } from '../shared/platform-rules.js';
import { isRetryable, type PlatformApi } from './platform-api.js';
import type { VerifyRequest } from './verify-request.js';

export interface FirmwareInfo {
  FirmwareId: string;
  ProductKey: string;
  DestVersion: string;
  ModuleName: string;
  Status: number;
  VerifyProgress: number;
  FirmwareName?: string;
}

export type Plan =
  | { kind: 'create'; firmware: FirmwareInfo; warnings: string[] }
  | { kind: 'attach'; firmware: FirmwareInfo; jobId: string; warnings: string[] }
  | { kind: 'done'; firmware: FirmwareInfo; verdict: 'already-verified' | 'no-verification-needed'; warnings: string[] };

export function refused(message: string, expected?: string): OtaError {
  return new OtaError('REFUSED', message, expected ? { expected } : {});
}

export async function queryFirmware(api: PlatformApi, firmwareId: string, instance?: string, opts: { urgent?: boolean } = {}): Promise<FirmwareInfo> {
  try {
    const r = await api.request('QueryOTAFirmware', { FirmwareId: firmwareId, IotInstanceId: instance }, opts);
    return r.FirmwareInfo as FirmwareInfo;
  } catch (err) {
    if (isOtaError(err, 'PLATFORM_ERROR') && err.details.platformCode === 'iot.ota.FirmwareNotFound') throw refused(`firmware ${firmwareId} does not exist`, 'a FirmwareId of this account');
    throw err;
  }
}

interface JobRow { JobId: string; JobType: string; JobStatus: string; UtcCreate?: string }

export async function verifyJobsOf(api: PlatformApi, firmwareId: string, instance?: string): Promise<JobRow[]> {
  const rows = await api.all<JobRow>('ListOTAJobByFirmware', { FirmwareId: firmwareId, IotInstanceId: instance }, 200, (r) => ((r.Data as { SimpleOTAJobInfo?: JobRow[] } | undefined)?.SimpleOTAJobInfo ?? []));
  return rows.filter((j) => j.JobType === 'VERIFY_FIRMWARE');
}

export async function planVerify(api: PlatformApi, req: VerifyRequest): Promise<Plan> {
  const warnings: string[] = [];
  const firmware = await queryFirmware(api, req.firmwareId, req.iotInstanceId);
  if (firmware.ProductKey !== req.productKey) throw refused(`firmware ${req.firmwareId} belongs to product ${firmware.ProductKey}, not ${req.productKey}`, `a firmware of product ${req.productKey}`);
  if (firmware.Status === FIRMWARE_STATUS.verified) return { kind: 'done', firmware, verdict: 'already-verified', warnings };
  if (firmware.Status === FIRMWARE_STATUS.noVerificationNeeded) return { kind: 'done', firmware, verdict: 'no-verification-needed', warnings };
  if (firmware.Status === FIRMWARE_STATUS.verifying) {
    const running = (await verifyJobsOf(api, req.firmwareId, req.iotInstanceId)).find((j) => j.JobStatus === 'IN_PROGRESS' || j.JobStatus === 'PLANNED');
    if (running) return { kind: 'attach', firmware, jobId: running.JobId, warnings: [`firmware is already being verified by job ${running.JobId}; watching that job instead of creating another`] };
  }
  const unknown: string[] = [];
  const busy: string[] = [];
  const details = await deviceDetails(api, req);
  for (const d of req.devices) {
    const info = details.get(d);
    if (!info) { unknown.push(d); continue; }
    if (info.Status !== 'ONLINE') warnings.push(`${d} is ${info.Status ?? 'not online'}: the notice waits until it connects`);
    if (firmware.ModuleName === 'default' && info.FirmwareVersion === firmware.DestVersion) warnings.push(`${d} already runs ${firmware.DestVersion}: the platform skips it and it cannot verify`);
    const pending = await api.request('ListOTAUnfinishedTaskByDevice', { ProductKey: req.productKey, DeviceName: d, IotInstanceId: req.iotInstanceId });
    if (((pending.Data as { SimpleOTATaskInfo?: unknown[] } | undefined)?.SimpleOTATaskInfo ?? []).length > 0) busy.push(d);
  }
  if (unknown.length) throw refused(`unknown device(s) in product ${req.productKey}: ${unknown.join(', ')}`, 'registered device names');
  if (busy.length) throw refused(`device(s) busy with another OTA task: ${busy.join(', ')}`, 'devices with no unfinished OTA task');
  return { kind: 'create', firmware, warnings };
}

interface DeviceInfo { DeviceName?: string; Status?: string; FirmwareVersion?: string }

/** Every device's detail, by name; a device the platform does not know is absent. One
 *  BatchQueryDeviceDetail for all of them (it leaves unknown names out of its answer) saves nine calls
 *  of the budget; when the account may not call it (a RAM policy written for QueryDeviceDetail alone),
 *  one QueryDeviceDetail per device. */
async function deviceDetails(api: PlatformApi, req: VerifyRequest): Promise<Map<string, DeviceInfo>> {
  const found = new Map<string, DeviceInfo>();
  try {
    const r = await api.request('BatchQueryDeviceDetail', { ProductKey: req.productKey, DeviceName: req.devices, IotInstanceId: req.iotInstanceId });
    // The reference shows the rows in Data.Data; a flat Data array is read too.
    const data = r.Data as DeviceInfo[] | { Data?: DeviceInfo[] } | undefined;
    const rows = Array.isArray(data) ? data : (data?.Data ?? []);
    for (const row of rows) if (row.DeviceName) found.set(row.DeviceName, row);
    return found;
  } catch (err) {
    // Retryable failures were retried already; a refusal of the batch call itself falls back.
    if (!isOtaError(err, 'PLATFORM_ERROR') || isRetryable(err)) throw err;
  }
  for (const d of req.devices) {
    try {
      const detail = await api.request('QueryDeviceDetail', { ProductKey: req.productKey, DeviceName: d, IotInstanceId: req.iotInstanceId });
      found.set(d, detail.Data as DeviceInfo);
    } catch (err) {
      if (isOtaError(err, 'PLATFORM_ERROR') && String(err.details.platformCode).includes('NotExist')) continue;
      throw err;
    }
  }
  return found;
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
      const r = await api.request('CreateOTAVerifyJob', params, { retry: false });
      return String((r.Data as { JobId: string }).JobId);
    } catch (err) {
      if (!isOtaError(err, 'TRANSPORT_ERROR') || attempt >= 3) throw err;
      // The create may have happened: look first.
      const made = (await verifyJobsOf(api, req.firmwareId, req.iotInstanceId)).find((j) => j.JobStatus !== 'CANCELED' && (!j.UtcCreate || Date.parse(j.UtcCreate) >= startedMs - 60_000));
      if (made) return made.JobId;
    }
  }
}
