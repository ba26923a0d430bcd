// The preflight's device checks over a scripted platform: one BatchQueryDeviceDetail for every device,
// either shape of its answer, and the per-device fallback when the account may not call it.
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../shared/clock.js';
import { OtaError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import type { ApiParams, ApiResponse } from '../../shared/openapi-client.js';
import { PlatformApi } from '../../orchestrator/platform-api.js';
import { RateLimiter } from '../../orchestrator/rate-limiter.js';
import { planVerify as plan } from '../../orchestrator/preflight.js';
import type { VerifyRequest } from '../../orchestrator/verify-request.js';

const KNOWN: Record<string, { Status: string; FirmwareVersion: string }> = {
  'tb-01': { Status: 'ONLINE', FirmwareVersion: '1.0.0' },
  'tb-02': { Status: 'OFFLINE', FirmwareVersion: '1.0.0' },
  'tb-03': { Status: 'ONLINE', FirmwareVersion: '2.0.0' },
};

function platform(batch: 'nested' | 'flat' | 'forbidden' | 'throttled', firmware: Record<string, unknown> = {}) {
  const calls: string[] = [];
  const call = (action: string, params: ApiParams): Promise<ApiResponse> => {
    calls.push(action);
    const refuse = (code: string) => Promise.reject(new OtaError('PLATFORM_ERROR', `${code}: refused`, { details: { platformCode: code } }));
    switch (action) {
      case 'QueryOTAFirmware':
        return Promise.resolve({ FirmwareInfo: { FirmwareId: 'fw1', ProductKey: 'pk', DestVersion: '2.0.0', Status: 0, ModuleName: 'default', ...firmware } });
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

const planVerify = (api: PlatformApi, req: VerifyRequest, skipCurrent = true) => plan(api, systemClock, req, { skipCurrent });

const request = (devices: string[]): VerifyRequest => ({ productKey: 'pk', firmwareId: 'fw1', devices, tags: [], needPush: true, needConfirm: false, downloadProtocol: 'HTTPS' });

describe('preflight device checks', () => {
  for (const shape of ['nested', 'flat'] as const) {
    it(`reads every device from one BatchQueryDeviceDetail (rows ${shape === 'nested' ? 'in Data.Data' : 'as Data'})`, async () => {
      const p = platform(shape);
      const plan = await planVerify(p.api, request(['tb-01', 'tb-02', 'tb-03']));
      expect(plan.kind).toBe('create');
      expect(plan.warnings.join('\n')).toMatch(/tb-02 is OFFLINE/);
      expect(plan.warnings.join('\n')).toMatch(/skipping tb-03: already on 2\.0\.0/);
      // The firmware and the benches are read at once; the firmware read again before dropping tb-03.
      expect([...p.calls].sort()).toEqual(['BatchQueryDeviceDetail', 'QueryOTAFirmware', 'QueryOTAFirmware']);
    });
  }

  it('refuses the devices the batch answer leaves out, naming them', async () => {
    const p = platform('nested');
    await expect(planVerify(p.api, request(['tb-01', 'ghost-1', 'ghost-2']))).rejects.toThrow(/unknown device\(s\) in product pk: ghost-1, ghost-2/);
  });

  it('falls back to QueryDeviceDetail per device when the batch call is refused', async () => {
    const p = platform('forbidden');
    await expect(planVerify(p.api, request(['tb-01', 'ghost-1']))).rejects.toThrow(/unknown device\(s\) in product pk: ghost-1$/);
    expect([...p.calls].sort()).toEqual(['BatchQueryDeviceDetail', 'QueryDeviceDetail', 'QueryDeviceDetail', 'QueryOTAFirmware']);
  });

  it('does not fall back on throttling: that is the platform saying slow down, not no', async () => {
    const p = platform('throttled');
    await expect(planVerify(p.api, request(['tb-01']))).rejects.toThrow(/Throttling/);
    expect(p.calls).not.toContain('QueryDeviceDetail');
  });
});

describe('honest preflight verdicts', () => {
  it('refuses when every bench already runs the destination version, naming them, and creates nothing', async () => {
    const p = platform('nested');
    const err = await planVerify(p.api, request(['tb-03']), true).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REFUSED', details: { devices: ['tb-03'] } });
    expect(String(err)).toMatch(/every bench already runs 2\.0\.0 \(tb-03\)/);
    expect(p.calls).not.toContain('CreateOTAVerifyJob');
  });

  it('refuses when some benches run it, unless --skip-current drops them', async () => {
    const p = platform('nested');
    await expect(planVerify(p.api, request(['tb-01', 'tb-03']), false)).rejects.toMatchObject({ code: 'REFUSED', details: { devices: ['tb-03'] } });
    const plan = await planVerify(p.api, request(['tb-01', 'tb-03']), true);
    expect(plan).toMatchObject({ kind: 'create', devices: ['tb-01'] });
  });

  it('refuses a delta package on a bench whose version is not its SrcVersion, naming the version', async () => {
    const p = platform('nested', { Type: 1, SrcVersion: '1.5.0' });
    await expect(planVerify(p.api, request(['tb-01', 'tb-02']))).rejects.toThrow(/delta package from 1\.5\.0: tb-01 runs 1\.0\.0, tb-02 runs 1\.0\.0/);
    const ok = platform('nested', { Type: 1, SrcVersion: '1.0.0' });
    expect((await planVerify(ok.api, request(['tb-01']))).kind).toBe('create');
  });

  it('refuses a malformed firmware answer with the field, instead of reading undefined', async () => {
    const p = platform('nested', { Status: 'verified' });
    await expect(planVerify(p.api, request(['tb-01']))).rejects.toMatchObject({ code: 'PLATFORM_INVALID_ANSWER', details: { field: 'FirmwareInfo.Status' } });
  });
});
