// The preflight's device checks over a scripted platform: one BatchQueryDeviceDetail for every device,
// either shape of its answer, and the per-device fallback when the account may not call it.
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../shared/clock.js';
import { OtaError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import type { ApiParams, ApiResponse } from '../../shared/openapi-client.js';
import { PlatformApi } from '../../orchestrator/platform-api.js';
import { RateLimiter } from '../../orchestrator/rate-limiter.js';
import { planVerify } from '../../orchestrator/verify-job.js';
import type { VerifyRequest } from '../../orchestrator/verify-request.js';

const KNOWN: Record<string, { Status: string; FirmwareVersion: string }> = {
  'tb-01': { Status: 'ONLINE', FirmwareVersion: '1.0.0' },
  'tb-02': { Status: 'OFFLINE', FirmwareVersion: '1.0.0' },
  'tb-03': { Status: 'ONLINE', FirmwareVersion: '2.0.0' },
};

function platform(batch: 'nested' | 'flat' | 'forbidden' | 'throttled') {
  const calls: string[] = [];
  const call = (action: string, params: ApiParams): Promise<ApiResponse> => {
    calls.push(action);
    const refuse = (code: string) => Promise.reject(new OtaError('PLATFORM_ERROR', `${code}: refused`, { details: { platformCode: code } }));
    switch (action) {
      case 'QueryOTAFirmware':
        return Promise.resolve({ FirmwareInfo: { FirmwareId: 'fw1', ProductKey: 'pk', DestVersion: '2.0.0', Status: 0, ModuleName: 'default' } });
      case 'BatchQueryDeviceDetail': {
        if (batch === 'forbidden') return refuse('Forbidden.RAM');
        if (batch === 'throttled') return refuse('Throttling.User');
        const rows = (params.DeviceName as string[]).filter((n) => KNOWN[n]).map((n) => ({ DeviceName: n, DeviceSecret: 's3cret', ...KNOWN[n] }));
        return Promise.resolve({ Data: batch === 'nested' ? { Data: rows } : rows });
      }
      case 'QueryDeviceDetail': {
        const info = KNOWN[String(params.DeviceName)];
        return info ? Promise.resolve({ Data: { DeviceName: params.DeviceName, ...info } }) : refuse('iot.device.NotExistedDevice');
      }
      case 'ListOTAUnfinishedTaskByDevice':
        return Promise.resolve({ Data: { SimpleOTATaskInfo: [] } });
      default:
        return refuse('InvalidApi.NotFound');
    }
  };
  // A budget so high the limiter never holds a call back; one attempt, so throttling surfaces at once.
  const api = new PlatformApi({ call, limiter: new RateLimiter(systemClock, 100_000, {}), clock: systemClock, log: silentLogger(), maxAttempts: 1, backoffBaseMs: 1, backoffMaxMs: 1 });
  return { api, calls };
}

const request = (devices: string[]): VerifyRequest => ({ productKey: 'pk', firmwareId: 'fw1', devices, tags: [], needPush: true, needConfirm: false, downloadProtocol: 'HTTPS' });

describe('preflight device checks', () => {
  for (const shape of ['nested', 'flat'] as const) {
    it(`reads every device from one BatchQueryDeviceDetail (rows ${shape === 'nested' ? 'in Data.Data' : 'as Data'})`, async () => {
      const p = platform(shape);
      const plan = await planVerify(p.api, request(['tb-01', 'tb-02', 'tb-03']));
      expect(plan.kind).toBe('create');
      expect(plan.warnings.join('\n')).toMatch(/tb-02 is OFFLINE/);
      expect(plan.warnings.join('\n')).toMatch(/tb-03 already runs 2\.0\.0/);
      expect(p.calls).toEqual(['QueryOTAFirmware', 'BatchQueryDeviceDetail', 'ListOTAUnfinishedTaskByDevice', 'ListOTAUnfinishedTaskByDevice', 'ListOTAUnfinishedTaskByDevice']);
    });
  }

  it('refuses the devices the batch answer leaves out, naming them', async () => {
    const p = platform('nested');
    await expect(planVerify(p.api, request(['tb-01', 'ghost-1', 'ghost-2']))).rejects.toThrow(/unknown device\(s\) in product pk: ghost-1, ghost-2/);
  });

  it('falls back to QueryDeviceDetail per device when the batch call is refused', async () => {
    const p = platform('forbidden');
    await expect(planVerify(p.api, request(['tb-01', 'ghost-1']))).rejects.toThrow(/unknown device\(s\) in product pk: ghost-1$/);
    expect(p.calls.slice(0, 4)).toEqual(['QueryOTAFirmware', 'BatchQueryDeviceDetail', 'QueryDeviceDetail', 'QueryDeviceDetail']);
  });

  it('does not fall back on throttling: that is the platform saying slow down, not no', async () => {
    const p = platform('throttled');
    await expect(planVerify(p.api, request(['tb-01']))).rejects.toThrow(/Throttling/);
    expect(p.calls).not.toContain('QueryDeviceDetail');
  });
});
