// The clock is injected everywhere time matters (task timeouts, backoff, progress throttling), so
// state machines can be tested without sleeping.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Run `fn` after `delayMs`; the handle cancels it. A pending timer keeps the process alive (a
   *  watch between two polls has nothing else), so owners cancel theirs on close(). */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const t = setTimeout(fn, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(t) };
  },
});

interface PendingTimer {
  atMs: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to; timers due on `advance` fire in time order. */
export class ManualClock implements Clock {
  #nowMs: number;
  #seq = 0;
  #timers: PendingTimer[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer: PendingTimer = { atMs: this.#nowMs + Math.max(0, delayMs), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => { timer.cancelled = true; } };
  }

  /** Move time forward, firing each due timer at its own instant. */
  advance(ms: number): void {
    const end = this.#nowMs + ms;
    for (;;) {
      const due = this.#timers
        .filter((t) => !t.cancelled && t.atMs <= end)
        .sort((a, b) => a.atMs - b.atMs || a.seq - b.seq)[0];
      if (!due) break;
      due.cancelled = true;
      this.#nowMs = Math.max(this.#nowMs, due.atMs);
      due.fn();
    }
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    this.#nowMs = end;
  }

  pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }
}

/** Wait `ms` on `clock`; resolves early (never rejects) when `signal` aborts. */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  // An already-aborted signal never fires 'abort' again: without this check the wait ran in full.
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = () => { t.cancel(); resolve(); };
    const t = clock.setTimer(ms, () => { signal?.removeEventListener('abort', stop); resolve(); });
    signal?.addEventListener('abort', stop, { once: true });
  });
}
