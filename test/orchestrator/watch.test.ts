// The watch's request pattern over a scripted platform on a manual clock: what it reads each poll and
// when it stops. The platform is a plain function (the injected ApiCall); the CLI tests cover the lab.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import type { ApiParams, ApiResponse } from '../../shared/openapi-client.js';
import { PlatformApi } from '../../orchestrator/platform-api.js';
import { RateLimiter } from '../../orchestrator/rate-limiter.js';
import { watchJob, type Snapshot } from '../../orchestrator/watch.js';

interface Scripted { tasks: string[]; firmwareStatus: number; jobStatus: string }

/** A platform whose state is `script[poll]`, moving one step on each ListOTATaskByJob. */
function scriptedPlatform(script: Scripted[]) {
  const calls: string[] = [];
  let step = -1;
  const state = () => script[Math.min(Math.max(step, 0), script.length - 1)] as Scripted;
  const call = (action: string, params: ApiParams): Promise<ApiResponse> => {
    calls.push(action);
    if (action === 'ListOTATaskByJob') {
      step++;
      const rows = state().tasks.map((status, i) => ({ TaskId: `t${i}`, DeviceName: `d${i}`, TaskStatus: status, Progress: status === 'SUCCEEDED' ? '100' : '50', TaskDesc: status === 'FAILED' ? 'install failed' : '' }));
      return Promise.resolve({ Success: true, PageCount: 1, Data: { SimpleOTATaskInfo: rows } });
    }
    if (action === 'QueryOTAFirmware') return Promise.resolve({ Success: true, FirmwareInfo: { FirmwareId: params.FirmwareId, ProductKey: 'pk', DestVersion: '2.0.0', Status: state().firmwareStatus } });
    if (action === 'QueryOTAJob') return Promise.resolve({ Success: true, Data: { JobId: params.JobId, FirmwareId: 'fw1', ProductKey: 'pk', JobStatus: state().jobStatus } });
    return Promise.reject(new Error(`unexpected ${action}`));
  };
  return { calls, call };
}

/** Run a watch to its end, moving the manual clock only while the watch waits on it. */
async function runWatch(script: Scripted[], opts: { firmwareId?: string } = {}): Promise<{ final: Snapshot; calls: string[]; polls: number }> {
  const clock = new ManualClock(0);
  const platform = scriptedPlatform(script);
  const api = new PlatformApi({ call: platform.call, limiter: new RateLimiter(clock, 100), clock, log: silentLogger(), maxAttempts: 1, backoffBaseMs: 10, backoffMaxMs: 10 });
  let polls = 0;
  let final: Snapshot | undefined;
  const done = watchJob({
    api, clock, log: silentLogger(), jobId: 'job1', minIntervalMs: 1000, maxIntervalMs: 5000, unreachableMs: 60_000, settleGraceMs: 30_000,
    signal: new AbortController().signal, onSnapshot: () => { polls++; }, ...opts,
  }).then((s) => { final = s; });
  for (let i = 0; i < 10_000 && final === undefined; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(50);
  }
  await done;
  return { final: final as Snapshot, calls: platform.calls, polls };
}

const moving = (n: number): Scripted[] => Array.from({ length: n }, () => ({ tasks: ['IN_PROGRESS', 'IN_PROGRESS'], firmwareStatus: 2, jobStatus: 'IN_PROGRESS' }));

describe('watching a verify job', () => {
  it('spends one list call per poll while devices move, and reads the firmware once every task is final', async () => {
    const r = await runWatch([...moving(4), { tasks: ['SUCCEEDED', 'SUCCEEDED'], firmwareStatus: 1, jobStatus: 'COMPLETED' }], { firmwareId: 'fw1' });
    expect(r.final.done).toBe(true);
    expect(r.final.firmwareStatus).toBe(1);
    // No QueryOTAJob at all: the caller gave the firmware and the firmware's Status settled the verdict.
    expect(r.calls).toEqual(['ListOTATaskByJob', 'ListOTATaskByJob', 'ListOTATaskByJob', 'ListOTATaskByJob', 'ListOTATaskByJob', 'QueryOTAFirmware']);
    expect(r.final.jobStatus).toBeNull();
  });

  it('reads the job first when re-attaching without the firmware, and reports its status', async () => {
    const r = await runWatch([{ tasks: ['SUCCEEDED'], firmwareStatus: 1, jobStatus: 'COMPLETED' }]);
    expect(r.calls).toEqual(['QueryOTAJob', 'ListOTATaskByJob', 'QueryOTAFirmware']);
    expect(r.final.jobStatus).toBe('COMPLETED');
    expect(r.final.firmwareId).toBe('fw1');
  });

  it('reads the firmware as soon as a task fails, and stops if the platform already failed the verification', async () => {
    const r = await runWatch([...moving(2), { tasks: ['FAILED', 'IN_PROGRESS'], firmwareStatus: 3, jobStatus: 'IN_PROGRESS' }, ...moving(5)], { firmwareId: 'fw1' });
    expect(r.final.done).toBe(true);
    expect(r.final.firmwareStatus).toBe(3);
    expect(r.polls).toBe(3);
    expect(r.final.tasks.map((t) => t.status)).toEqual(['FAILED', 'IN_PROGRESS']);
  });

  it('keeps watching after a failure when the platform waits for the other tasks', async () => {
    const r = await runWatch([...moving(1), { tasks: ['FAILED', 'IN_PROGRESS'], firmwareStatus: 2, jobStatus: 'IN_PROGRESS' }, { tasks: ['FAILED', 'IN_PROGRESS'], firmwareStatus: 2, jobStatus: 'IN_PROGRESS' }, { tasks: ['FAILED', 'SUCCEEDED'], firmwareStatus: 3, jobStatus: 'COMPLETED' }], { firmwareId: 'fw1' });
    expect(r.final.firmwareStatus).toBe(3);
    expect(r.calls).toEqual(['ListOTATaskByJob', 'ListOTATaskByJob', 'QueryOTAFirmware', 'ListOTATaskByJob', 'ListOTATaskByJob', 'QueryOTAFirmware']);
  });

  it('ends on the job when the firmware has not settled, reading the firmware again after the job ended', async () => {
    const r = await runWatch([...moving(1), { tasks: ['SUCCEEDED', 'CANCELED'], firmwareStatus: 2, jobStatus: 'COMPLETED' }], { firmwareId: 'fw1' });
    expect(r.final.done).toBe(true);
    expect(r.final.jobStatus).toBe('COMPLETED');
    expect(r.calls.slice(-3)).toEqual(['QueryOTAFirmware', 'QueryOTAJob', 'QueryOTAFirmware']);
  });

  it('reads the firmware at least every ten polls even when no task moves to a final status', async () => {
    const failedQuietly = Array.from({ length: 30 }, (): Scripted => ({ tasks: ['IN_PROGRESS', 'IN_PROGRESS'], firmwareStatus: 3, jobStatus: 'IN_PROGRESS' }));
    const r = await runWatch([...moving(12), ...failedQuietly], { firmwareId: 'fw1' });
    // The firmware failed on the platform without a task showing it: the safety-net read finds it.
    expect(r.final.firmwareStatus).toBe(3);
    expect(r.polls).toBe(22);
    expect(r.calls.filter((c) => c === 'QueryOTAFirmware')).toHaveLength(2);
  });

  it('keeps reading a firmware left verifying after every task succeeded and the job ended, and takes its later Status', async () => {
    const passedButVerifying: Scripted = { tasks: ['SUCCEEDED', 'SUCCEEDED'], firmwareStatus: 2, jobStatus: 'COMPLETED' };
    const r = await runWatch([...moving(1), passedButVerifying, passedButVerifying, passedButVerifying, { ...passedButVerifying, firmwareStatus: 1 }], { firmwareId: 'fw1' });
    expect(r.final.firmwareStatus).toBe(1);
    expect(r.polls).toBe(5);
  });

  it('gives up on a firmware that stays verifying past the grace period, with the Status it has', async () => {
    const stuck: Scripted = { tasks: ['SUCCEEDED'], firmwareStatus: 2, jobStatus: 'COMPLETED' };
    const r = await runWatch([stuck], { firmwareId: 'fw1' });
    expect(r.final.done).toBe(true);
    expect(r.final.firmwareStatus).toBe(2);
    // Polled for the 30 s grace (1 s apart, backing off to 5 s while nothing changes), then stopped.
    expect(r.polls).toBeGreaterThan(3);
    expect(r.polls).toBeLessThan(15);
  });

  it('does not wait when a device failed: the verdict is a failure whatever the firmware says later', async () => {
    const r = await runWatch([{ tasks: ['SUCCEEDED', 'FAILED'], firmwareStatus: 2, jobStatus: 'COMPLETED' }], { firmwareId: 'fw1' });
    expect(r.final.done).toBe(true);
    expect(r.polls).toBe(1);
  });
});
