// The watch's last poll: when the benches look about to end (their progress rate, or one bench already
// succeeded), it polls then rather than at the next scheduled poll, within the budget and at most 20
// times a watch. A platform whose tasks move with the manual clock, as agents reporting their progress.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import type { ApiParams, ApiResponse } from '../../shared/openapi-client.js';
import { PlatformApi } from '../../orchestrator/platform-api.js';
import { RateLimiter } from '../../orchestrator/rate-limiter.js';
import { watchJob, type Snapshot } from '../../orchestrator/watch.js';

/** A bench that starts at `startMs`, reports its progress every `reportMs` (500 by default, as a
 *  throttled agent does) and succeeds at `endMs`; `stallAt` freezes its progress at that value and it
 *  never ends; `lagPct` makes the reported progress trail the real one by that much. */
interface Bench { startMs: number; endMs: number; stallAt?: number; reportMs?: number; lagPct?: number }

function timedPlatform(clock: ManualClock, benches: Bench[]) {
  const lists: number[] = [];
  const progressOf = (b: Bench, t: number): number => {
    const reportedAt = Math.floor(t / (b.reportMs ?? 500)) * (b.reportMs ?? 500);
    const p = Math.max(0, Math.min(99, Math.floor(((reportedAt - b.startMs) / (b.endMs - b.startMs)) * 100) - (b.lagPct ?? 0)));
    return b.stallAt === undefined ? p : Math.min(p, b.stallAt);
  };
  const ended = (b: Bench, t: number) => b.stallAt === undefined && t >= b.endMs;
  const call = (action: string, params: ApiParams): Promise<ApiResponse> => {
    const t = clock.now();
    if (action === 'ListOTATaskByJob') {
      lists.push(t);
      const rows = benches.map((b, i) => ({ TaskId: `t${i}`, DeviceName: `d${i}`, TaskStatus: ended(b, t) ? 'SUCCEEDED' : 'IN_PROGRESS', Progress: ended(b, t) ? 100 : progressOf(b, t), TaskDesc: '' }));
      return Promise.resolve({ Success: true, PageCount: 1, Data: { SimpleOTATaskInfo: rows } });
    }
    const allEnded = benches.every((b) => ended(b, t));
    if (action === 'QueryOTAFirmware') return Promise.resolve({ Success: true, FirmwareInfo: { FirmwareId: params.FirmwareId, ProductKey: 'pk', DestVersion: '2.0.0', Status: allEnded ? 1 : 2 } });
    if (action === 'QueryOTAJob') return Promise.resolve({ Success: true, Data: { JobId: params.JobId, FirmwareId: 'fw1', ProductKey: 'pk', JobStatus: allEnded ? 'COMPLETED' : 'IN_PROGRESS' } });
    return Promise.reject(new Error(`unexpected ${action}`));
  };
  return { call, lists };
}

/** Watch to the verdict (or until `untilMs`), moving the clock 10 ms at a time while the watch waits. */
async function watch(benches: Bench[], opts: { untilMs?: number; limiter?: (clock: ManualClock) => RateLimiter } = {}) {
  const clock = new ManualClock(0);
  const platform = timedPlatform(clock, benches);
  const limiter = opts.limiter?.(clock) ?? new RateLimiter(clock, 8);
  const api = new PlatformApi({ call: platform.call, limiter, clock, log: silentLogger(), maxAttempts: 1, backoffBaseMs: 10, backoffMaxMs: 10 });
  const stop = new AbortController();
  let final: Snapshot | undefined;
  let verdictAtMs: number | undefined;
  const done = watchJob({
    api, clock, log: silentLogger(), jobId: 'job1', firmwareId: 'fw1', minIntervalMs: 1000, maxIntervalMs: 10_000, unreachableMs: 60_000, settleGraceMs: 30_000,
    signal: stop.signal, onSnapshot: () => undefined,
  }).then((s) => { final = s; verdictAtMs = clock.now(); }, () => undefined);
  while (final === undefined && clock.now() < (opts.untilMs ?? 60_000)) {
    await new Promise((r) => setImmediate(r));
    clock.advance(10);
  }
  stop.abort();
  clock.advance(20_000);
  await done;
  return { final, verdictAtMs, lists: platform.lists, limiter, clock };
}

describe('the watch polls at the benches\' expected end', () => {
  it('reads the verdict right after the last bench ends, not at the next scheduled poll', async () => {
    // Polls every second from 0; the benches end at 4.3 s and 4.25 s: the regular poll would be at 5 s.
    const r = await watch([{ startMs: 200, endMs: 4300 }, { startMs: 100, endMs: 4250 }]);
    expect(r.final?.done).toBe(true);
    expect(r.final?.tasks.map((t) => t.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(r.verdictAtMs).toBeGreaterThanOrEqual(4300);
    expect(r.verdictAtMs).toBeLessThan(4700);
    // At most a few extra list calls over the five regular ones (0 to 4 s).
    expect(r.lists.length).toBeLessThanOrEqual(8);
  });

  it('polls early once one bench succeeded and the others are under way, even when their progress lags', async () => {
    // The second bench's reported progress trails by 40 points: its rate alone says it ends seconds later.
    const r = await watch([{ startMs: 100, endMs: 3100 }, { startMs: 150, endMs: 4300, reportMs: 1000, lagPct: 40 }]);
    expect(r.final?.done).toBe(true);
    expect(r.verdictAtMs).toBeGreaterThanOrEqual(4300);
    expect(r.verdictAtMs).toBeLessThan(4600);
  });

  it('makes at most 20 early polls in a whole watch, however long a straggler takes', async () => {
    // One bench ends at 2 s, the other moves slowly for a minute: "near the end" the whole time.
    const r = await watch([{ startMs: 100, endMs: 2000 }, { startMs: 100, endMs: 60_000 }], { untilMs: 70_000 });
    expect(r.final?.done).toBe(true);
    const gaps = r.lists.slice(1).map((t, i) => t - (r.lists[i] as number));
    expect(gaps.filter((g) => g < 900).length).toBe(20);
  });

  it('stops polling early for a bench whose progress stalls', async () => {
    const r = await watch([{ startMs: 100, endMs: 4000, stallAt: 90 }], { untilMs: 30_000 });
    expect(r.final).toBeUndefined();
    // Regular polling alone (1 s, backing off by 1.5 while nothing moves, up to 10 s) makes about 10
    // reads in 30 s; the early polls before the stall shows add a few, none after.
    const after10s = r.lists.filter((t) => t >= 10_000);
    expect(after10s.length).toBeLessThanOrEqual(4);
    expect(r.lists.length).toBeLessThanOrEqual(16);
  });

  it('makes no early poll while the budget is busy with other calls', async () => {
    let busy = true;
    const r = await watch([{ startMs: 200, endMs: 4300 }], {
      limiter: (clock) => {
        const limiter = new RateLimiter(clock, 8);
        // Another job's calls keep the limiter's window over half full the whole time.
        const keepBusy = (): void => { if (busy) void limiter.acquire('QueryOTAJob').then(() => { clock.setTimer(150, keepBusy); }); };
        keepBusy();
        return limiter;
      },
    });
    busy = false;
    expect(r.final?.done).toBe(true);
    // Only the regular polls (each a whole second after the last one's start, give or take the limiter).
    for (let i = 1; i < r.lists.length; i++) expect((r.lists[i] as number) - (r.lists[i - 1] as number)).toBeGreaterThanOrEqual(800);
    expect(r.verdictAtMs).toBeGreaterThanOrEqual(4800);
  });

  it('never sends more than the budget in any one-second window, early polls included', async () => {
    const benches = Array.from({ length: 10 }, (_, i) => ({ startMs: 100 + i * 20, endMs: 3000 + i * 37 }));
    const r = await watch(benches);
    expect(r.final?.done).toBe(true);
    for (const t of r.lists) expect(r.lists.filter((x) => x >= t && x < t + 1000).length).toBeLessThanOrEqual(8);
  });
});
