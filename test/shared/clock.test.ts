// The abortable sleep every retry and backoff waits on.
import { describe, expect, it } from 'vitest';
import { ManualClock, sleepOn } from '../../shared/clock.js';

describe('sleepOn', () => {
  it('returns at once for a signal that is already aborted, leaving no timer behind', async () => {
    const clock = new ManualClock();
    const abort = new AbortController();
    abort.abort();
    // The clock never moves: without the check this wait would never end.
    await sleepOn(clock, 60_000, abort.signal);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('ends early when the signal aborts during the wait, and on time otherwise', async () => {
    const clock = new ManualClock();
    const abort = new AbortController();
    const early = sleepOn(clock, 60_000, abort.signal);
    abort.abort();
    await early;
    expect(clock.pendingTimers()).toBe(0);
    let done = false;
    const onTime = sleepOn(clock, 1000).then(() => { done = true; });
    clock.advance(999);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await onTime;
    expect(done).toBe(true);
  });
});
