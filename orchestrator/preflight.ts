// Before creating anything: the firmware and the benches are checked with the platform, so a job is
// created only when it can prove something. The firmware and the benches are read at once (two APIs,
// each within its own limit and the budget); the firmware's Status decides first.
import type { Clock } from '../shared/clock.js';
import { isOtaError } from '../shared/errors.js';
import { DEFAULT_MODULE, FIRMWARE_STATUS } from '../shared/platform-rules.js';
import { coveringJob } from './job-coverage.js';
import { isRetryable, type PlatformApi } from './platform-api.js';
import { parseAnswer, type DeviceInfo, type FirmwareInfo } from './platform-schemas.js';
import { queryFirmware, refused } from './verify-job.js';
import type { VerifyRequest } from './verify-request.js';

export type Plan =
  | { kind: 'create'; firmware: FirmwareInfo; devices: string[]; warnings: string[] }
  | { kind: 'attach'; firmware: FirmwareInfo; jobId: string; warnings: string[] }
  | { kind: 'done'; firmware: FirmwareInfo; verdict: 'already-verified' | 'no-verification-needed'; warnings: string[] };

export interface PreflightOptions {
  /** Drop benches already on the destination version instead of refusing. */
  skipCurrent: boolean;
  /** Told the firmware as soon as it is read, so a refusal can still report its Status. */
  onFirmware?: (f: FirmwareInfo) => void;
}

/** What the firmware's Status alone decides: done, attach to the job verifying it, or undecided. */
export async function planByFirmware(api: PlatformApi, clock: Clock, req: VerifyRequest, firmware: FirmwareInfo): Promise<Plan | undefined> {
  if (firmware.Status === FIRMWARE_STATUS.noVerificationNeeded) return { kind: 'done', firmware, verdict: 'no-verification-needed', warnings: [] };
  const verified = firmware.Status === FIRMWARE_STATUS.verified;
  if (!verified && firmware.Status !== FIRMWARE_STATUS.verifying) return undefined;
  // Verified by a job on these benches (another run may have just finished it): that job's verdict,
  // so two runs started together report the same thing whichever finished first.
  const job = await coveringJob(api, clock, { firmwareId: req.firmwareId, devices: req.devices, finished: verified, ...(req.iotInstanceId ? { iotInstanceId: req.iotInstanceId } : {}) });
  if (!job) return verified ? { kind: 'done', firmware, verdict: 'already-verified', warnings: [] } : undefined;
  return {
    kind: 'attach', firmware, jobId: job.jobId,
    warnings: [verified ? `firmware is already verified by job ${job.jobId} on these benches; reporting that job` : `firmware is already being verified by job ${job.jobId} on these benches; watching that job instead of creating another`],
  };
}

export async function planVerify(api: PlatformApi, clock: Clock, req: VerifyRequest, o: PreflightOptions): Promise<Plan> {
  const devicesRead = deviceDetails(api, req);
  // Read at once; when the firmware alone settles the plan the benches' answer (or failure) is unused.
  devicesRead.catch(() => undefined);
  let firmware = await queryFirmware(api, req.firmwareId, req.iotInstanceId);
  o.onFirmware?.(firmware);
  if (firmware.ProductKey !== req.productKey) throw refused(`firmware ${req.firmwareId} belongs to product ${firmware.ProductKey}, not ${req.productKey}`, `a firmware of product ${req.productKey}`);
  const byFirmware = await planByFirmware(api, clock, req, firmware);
  if (byFirmware) return byFirmware;
  const details = await devicesRead;
  const unknown = req.devices.filter((d) => !details.has(d));
  if (unknown.length) throw refused(`unknown device(s) in product ${req.productKey}: ${unknown.join(', ')}`, 'registered device names', { devices: unknown });
  const warnings: string[] = [];
  // The device's FirmwareVersion is its default module's: other modules' versions cannot be checked here.
  const versionKnown = firmware.ModuleName === DEFAULT_MODULE;
  const versionOf = (d: string) => details.get(d)?.FirmwareVersion ?? '';
  const current = versionKnown ? req.devices.filter((d) => versionOf(d) === firmware.DestVersion) : [];
  if (current.length > 0) {
    // Another run may have just verified this firmware on these benches: look again before refusing.
    firmware = await queryFirmware(api, req.firmwareId, req.iotInstanceId, { urgent: true });
    o.onFirmware?.(firmware);
    const now = await planByFirmware(api, clock, req, firmware);
    if (now) return now;
    if (current.length === req.devices.length) {
      throw refused(`every bench already runs ${firmware.DestVersion} (${current.join(', ')}): the platform skips a device already on the destination version, so the job would test nothing and leave the firmware failed`,
        'at least one bench on another version (downgrade it first)', { devices: current });
    }
    if (!o.skipCurrent) {
      throw refused(`bench(es) already on ${firmware.DestVersion}: ${current.join(', ')}; the platform would skip them, so they would prove nothing`,
        'benches on another version, or --skip-current to verify on the others only', { devices: current });
    }
    warnings.push(`skipping ${current.join(', ')}: already on ${firmware.DestVersion} (--skip-current)`);
  }
  const devices = req.devices.filter((d) => !current.includes(d));
  const src = firmware.SrcVersion ?? '';
  if (versionKnown && (firmware.Type === 1 || src !== '')) {
    const wrong = devices.filter((d) => versionOf(d) !== src);
    if (wrong.length) {
      throw refused(`delta package from ${src}: ${wrong.map((d) => `${d} runs ${versionOf(d) || 'no reported version'}`).join(', ')}`,
        `benches on ${src}, the package's SrcVersion`, { devices: wrong });
    }
  }
  if (!versionKnown) warnings.push(`module ${firmware.ModuleName}: the benches' module versions cannot be read before the job; a bench already on ${firmware.DestVersion} is skipped by the platform`);
  for (const d of devices) {
    const status = details.get(d)?.Status;
    if (status !== 'ONLINE') warnings.push(`${d} is ${status ?? 'not online'}: the notice waits until it connects`);
  }
  return { kind: 'create', firmware, devices, warnings };
}

/** Every device's detail, by name; a device the platform does not know is absent. One
 *  BatchQueryDeviceDetail for all of them (it leaves unknown names out of its answer) saves nine calls
 *  of the budget; when the account may not call it (a RAM policy written for QueryDeviceDetail alone),
 *  one QueryDeviceDetail per device. */
async function deviceDetails(api: PlatformApi, req: VerifyRequest): Promise<Map<string, DeviceInfo>> {
  const found = new Map<string, DeviceInfo>();
  try {
    const r = parseAnswer('BatchQueryDeviceDetail', await api.request('BatchQueryDeviceDetail', { ProductKey: req.productKey, DeviceName: req.devices, IotInstanceId: req.iotInstanceId }));
    const rows = Array.isArray(r.Data) ? r.Data : (r.Data?.Data ?? []);
    for (const row of rows) found.set(row.DeviceName, row);
    return found;
  } catch (err) {
    // Retryable failures were retried already; a refusal of the batch call itself falls back.
    if (!isOtaError(err, 'PLATFORM_ERROR') || isRetryable(err)) throw err;
  }
  const each = await Promise.all(req.devices.map(async (d) => {
    try {
      return parseAnswer('QueryDeviceDetail', await api.request('QueryDeviceDetail', { ProductKey: req.productKey, DeviceName: d, IotInstanceId: req.iotInstanceId })).Data;
    } catch (err) {
      if (isOtaError(err, 'PLATFORM_ERROR') && String(err.details.platformCode).includes('NotExist')) return undefined;
      throw err;
    }
  }));
  for (const [i, d] of req.devices.entries()) {
    const info = each[i];
    if (info) found.set(d, info);
  }
  return found;
}
