import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { RateLimiter } from '../../orchestrator/rate-limiter.js';

describe('client-side rate limiter', () => {
  it('never lets more than the budget through in any one-second window, nor more than an API\'s own limit', () => {
    const clock = new ManualClock(0);
    const limiter = new RateLimiter(clock, 8, { ListOTATaskByJob: 3 });
    const sent: { action: string; at: number }[] = [];
    for (let i = 0; i < 40; i++) {
      const action = i % 2 ? 'ListOTATaskByJob' : 'QueryOTAFirmware';
      void limiter.acquire(action).then(() => sent.push({ action, at: clock.now() }));
    }
    return (async () => {
      for (let t = 0; t < 10_000 && sent.length < 40; t += 50) {
        await Promise.resolve();
        clock.advance(50);
        await new Promise((r) => setImmediate(r));
      }
      expect(sent).toHaveLength(40);
      for (const s of sent) {
        const win = sent.filter((x) => x.at >= s.at && x.at < s.at + 1000);
        expect(win.length).toBeLessThanOrEqual(8);
        expect(win.filter((x) => x.action === 'ListOTATaskByJob').length).toBeLessThanOrEqual(3);
      }
    })();
  });

  it('serves urgent calls ahead of queued ones, in their own order, and still within the budget', async () => {
    const clock = new ManualClock(0);
    const limiter = new RateLimiter(clock, 2, {});
    const order: string[] = [];
    const all = ['a', 'b', 'c', 'd'].map((n) => limiter.acquire('ListOTATaskByJob').then(() => order.push(n)));
    all.push(limiter.acquire('QueryOTAFirmware', { urgent: true }).then(() => order.push('u1')));
    all.push(limiter.acquire('QueryOTAFirmware', { urgent: true }).then(() => order.push('u2')));
    for (let t = 0; t < 10_000 && order.length < 6; t += 50) {
      await new Promise((r) => setImmediate(r));
      clock.advance(50);
    }
    await Promise.all(all);
    // 'a' was granted at once, before the urgent calls were queued.
    expect(order).toEqual(['a', 'u1', 'u2', 'b', 'c', 'd']);
  });
});
