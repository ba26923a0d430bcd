// The watch's own bounds on the injected clock: a bench that never starts (offline, agent not running)
// fails after the start timeout and its task is cancelled; --max-wait ends the whole run. The platform
// is a small stateful fake that records every request, so the tests check what it was asked.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import type { ApiParams, ApiResponse } from '../../shared/openapi-client.js';
import { PlatformApi } from '../../orchestrator/platform-api.js';
import { RateLimiter } from '../../orchestrator/rate-limiter.js';
import { watchJob, type Snapshot } from '../../orchestrator/watch.js';

interface FakeTask { status: string; progress: number; desc: string }

/** d0 starts at once and succeeds at `successAtMs`; d1 never starts (it is offline). */
function fakePlatform(clock: ManualClock, o: { successAtMs: number; honourCancel: boolean }) {
  const requests: { action: string; params: ApiParams }[] = [];
  const tasks: Record<string, FakeTask> = { d0: { status: 'IN_PROGRESS', progress: 10, desc: '' }, d1: { status: 'QUEUED', progress: 0, desc: '' } };
  const final = () => Object.values(tasks).every((t) => ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(t.status));
  const call = (action: string, params: ApiParams): Promise<ApiResponse> => {
    requests.push({ action, params });
    if (clock.now() >= o.successAtMs && tasks.d0) Object.assign(tasks.d0, { status: 'SUCCEEDED', progress: 100 });
    switch (action) {
      case 'ListOTATaskByJob':
        return Promise.resolve({ PageCount: 1, Data: { SimpleOTATaskInfo: Object.entries(tasks).map(([name, t]) => ({ TaskId: `t-${name}`, DeviceName: name, TaskStatus: t.status, Progress: t.progress.toFixed(2), TaskDesc: t.desc })) } });
      case 'QueryOTAFirmware':
        return Promise.resolve({ FirmwareInfo: { FirmwareId: 'fw1', ProductKey: 'pk', DestVersion: '2.0.0', Status: final() ? (tasks.d1?.status === 'SUCCEEDED' ? 1 : 3) : 2 } });
      case 'QueryOTAJob':
        return Promise.resolve({ Data: { FirmwareId: 'fw1', ProductKey: 'pk', JobStatus: final() ? 'COMPLETED' : 'IN_PROGRESS' } });
      case 'CancelOTATaskByDevice':
        if (o.honourCancel) for (const n of params.DeviceName as string[]) Object.assign(tasks[n] ?? {}, { status: 'CANCELED' });
        return Promise.resolve({});
      case 'CancelOTATaskByJob':
        for (const t of Object.values(tasks)) if (!['SUCCEEDED', 'FAILED', 'CANCELED'].includes(t.status)) t.status = 'CANCELED';
        return Promise.resolve({});
      default:
        return Promise.reject(new Error(`unexpected ${action}`));
    }
  };
  return { requests, call, tasks };
}

async function watchOn(o: { successAtMs: number; honourCancel: boolean; startTimeoutMs?: number; deadlineMs?: number }): Promise<{ final: Snapshot; requests: { action: string; params: ApiParams }[]; endedAtMs: number; tasks: Record<string, FakeTask> }> {
  const clock = new ManualClock(0);
  const platform = fakePlatform(clock, o);
  const api = new PlatformApi({ call: platform.call, limiter: new RateLimiter(clock, 100), clock, log: silentLogger(), maxAttempts: 1, backoffBaseMs: 10, backoffMaxMs: 10 });
  let final: Snapshot | undefined;
  const done = watchJob({
    api, clock, log: silentLogger(), jobId: 'job1', firmwareId: 'fw1', productKey: 'pk', iotInstanceId: 'iot-test01', minIntervalMs: 1000, maxIntervalMs: 10_000,
    unreachableMs: 60_000, settleGraceMs: 30_000, signal: new AbortController().signal, onSnapshot: () => undefined,
    ...(o.startTimeoutMs !== undefined ? { startTimeoutMs: o.startTimeoutMs } : {}), ...(o.deadlineMs !== undefined ? { deadlineMs: o.deadlineMs } : {}),
  }).then((s) => { final = s; });
  for (let i = 0; i < 100_000 && final === undefined; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(250);
  }
  await done;
  return { final: final as Snapshot, requests: platform.requests, endedAtMs: clock.now(), tasks: platform.tasks };
}

describe('a bench that never takes the notice', () => {
  it('fails it after the start timeout, cancels its task on the platform, and ends', async () => {
    const r = await watchOn({ successAtMs: 60_000, honourCancel: true, startTimeoutMs: 10 * 60_000 });
    const cancels = r.requests.filter((q) => q.action === 'CancelOTATaskByDevice');
    expect(cancels).toHaveLength(1);
    expect(cancels[0]?.params).toMatchObject({ FirmwareId: 'fw1', ProductKey: 'pk', DeviceName: ['d1'], JobId: 'job1', IotInstanceId: 'iot-test01' });
    const d1 = r.final.tasks.find((t) => t.deviceName === 'd1');
    // Our verdict does not wait for the platform to show the cancel: the last read still said QUEUED.
    expect(d1).toMatchObject({ status: 'FAILED', platformStatus: 'QUEUED' });
    expect(r.tasks.d1?.status).toBe('CANCELED');
    expect(d1?.desc).toMatch(/^never started: offline or agent not running \(no progress within 10 min; task cancelled\)/);
    expect(r.final.tasks.find((t) => t.deviceName === 'd0')?.status).toBe('SUCCEEDED');
    expect(r.final.done).toBe(true);
    // Not before the ten minutes, and not long after.
    expect(r.endedAtMs).toBeGreaterThanOrEqual(10 * 60_000);
    expect(r.endedAtMs).toBeLessThan(10 * 60_000 + 30_000);
  });

  it('ends with the bench failed even when the platform does not take the cancel', async () => {
    const r = await watchOn({ successAtMs: 60_000, honourCancel: false, startTimeoutMs: 2 * 60_000 });
    expect(r.final.done).toBe(true);
    expect(r.final.tasks.find((t) => t.deviceName === 'd1')).toMatchObject({ status: 'FAILED', platformStatus: 'QUEUED' });
  });

  it('waits for ever without a start timeout (the platform counts its own only from the first progress)', async () => {
    const clock = new ManualClock(0);
    const platform = fakePlatform(clock, { successAtMs: 0, honourCancel: true });
    const api = new PlatformApi({ call: platform.call, limiter: new RateLimiter(clock, 100), clock, log: silentLogger(), maxAttempts: 1, backoffBaseMs: 10, backoffMaxMs: 10 });
    const stop = new AbortController();
    let ended = false;
    const done = watchJob({ api, clock, log: silentLogger(), jobId: 'job1', firmwareId: 'fw1', minIntervalMs: 1000, maxIntervalMs: 10_000, unreachableMs: 60_000, settleGraceMs: 30_000, signal: stop.signal, onSnapshot: () => undefined })
      .catch(() => undefined).finally(() => { ended = true; });
    for (let i = 0; i < 2000; i++) { await new Promise((r) => setImmediate(r)); clock.advance(1000); }
    expect(ended).toBe(false);
    stop.abort();
    await done;
  });
});

describe('--max-wait', () => {
  it('ends the run at the deadline: unfinished benches fail in our verdict and their tasks are cancelled', async () => {
    const r = await watchOn({ successAtMs: Number.MAX_SAFE_INTEGER, honourCancel: true, deadlineMs: 5 * 60_000 });
    expect(r.final).toMatchObject({ done: true, timedOut: true });
    expect(r.final.tasks.map((t) => [t.status, t.desc])).toEqual([['FAILED', 'not finished within --max-wait'], ['FAILED', 'not finished within --max-wait']]);
    expect(r.requests.filter((q) => q.action === 'CancelOTATaskByJob').map((q) => q.params)).toEqual([expect.objectContaining({ JobId: 'job1', IotInstanceId: 'iot-test01', CancelQueuedTask: true, CancelInProgressTask: true })]);
    expect(r.endedAtMs).toBeGreaterThanOrEqual(5 * 60_000);
    expect(r.endedAtMs).toBeLessThan(5 * 60_000 + 2000);
  });
});
