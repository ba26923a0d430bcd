// One client-side limiter for every call of the process: the per-API limits of docs/platform.md (§ OpenAPI) and an
// account-wide budget, over sliding one-second windows, first come first served. Every job watched
// at once shares it, so the account never sees more than the budget from this process.
import type { Clock, TimerHandle } from '../shared/clock.js';
import { PLATFORM_QPS } from '../shared/api-limits.js';

/** Requests leave a few ms after they are granted, and arrive with jitter; windows of 1.1 s and grants
 *  spaced evenly keep what the platform counts in any one second under the limit. */
const WINDOW_MS = 1100;

interface Waiter {
  action: string;
  urgent: boolean;
  resolve: () => void;
}

export class RateLimiter {
  readonly #clock: Clock;
  readonly #budgetPerSec: number;
  readonly #perApi: Readonly<Record<string, number>>;
  readonly #all: number[] = [];
  readonly #byApi = new Map<string, number[]>();
  readonly #queue: Waiter[] = [];
  #timer: TimerHandle | undefined;

  constructor(clock: Clock, budgetPerSec: number, perApi: Readonly<Record<string, number>> = PLATFORM_QPS) {
    this.#clock = clock;
    this.#budgetPerSec = budgetPerSec;
    this.#perApi = perApi;
  }

  /** Resolves when a call of `action` may be sent now; the call is counted from that moment. `urgent`
   *  calls go ahead of the others (first come first served among themselves): a watcher confirming a
   *  verdict should not wait behind a whole polling round of the other jobs. */
  acquire(action: string, opts: { urgent?: boolean } = {}): Promise<void> {
    return new Promise((resolve) => {
      const waiter: Waiter = { action, urgent: opts.urgent === true, resolve };
      const at = waiter.urgent ? this.#queue.findIndex((w) => !w.urgent) : -1;
      if (at >= 0) this.#queue.splice(at, 0, waiter);
      else this.#queue.push(waiter);
      this.#drain();
    });
  }

  /** Whether a call now would go at once without taking a share the even spacing keeps for others:
   *  nothing is waiting and under half the budget was used in the last window. Optional extra calls
   *  (an early poll) are made only then, so they never delay another job's calls. */
  idle(): boolean {
    const now = this.#clock.now();
    prune(this.#all, now);
    return this.#queue.length === 0 && this.#all.length < Math.ceil(this.#budgetPerSec / 2);
  }

  #drain(): void {
    for (;;) {
      const head = this.#queue[0];
      if (!head) return;
      const now = this.#clock.now();
      const waitMs = this.#waitMs(head.action, now);
      if (waitMs > 0) {
        if (!this.#timer) this.#timer = this.#clock.setTimer(waitMs, () => { this.#timer = undefined; this.#drain(); });
        return;
      }
      this.#queue.shift();
      this.#all.push(now);
      const mine = this.#byApi.get(head.action) ?? [];
      mine.push(now);
      this.#byApi.set(head.action, mine);
      head.resolve();
    }
  }

  /** How long until both windows have room (0 = now). */
  #waitMs(action: string, now: number): number {
    prune(this.#all, now);
    let wait = 0;
    if (this.#all.length >= this.#budgetPerSec) wait = Math.max(wait, (this.#all[this.#all.length - this.#budgetPerSec] as number) + WINDOW_MS - now);
    // Even spacing rather than bursts of `budget` at once, but only once half the budget is used: an
    // idle process's first few calls (a preflight's reads, a verdict's confirming reads) go at once,
    // which the per-second count allows, instead of each waiting a slot (~0.8 s over a run).
    const last = this.#all[this.#all.length - 1];
    if (last !== undefined && this.#all.length >= Math.ceil(this.#budgetPerSec / 2)) wait = Math.max(wait, last + WINDOW_MS / this.#budgetPerSec - now);
    const limit = this.#perApi[action];
    const mine = this.#byApi.get(action);
    if (limit !== undefined && mine) {
      prune(mine, now);
      if (mine.length >= limit) wait = Math.max(wait, (mine[mine.length - limit] as number) + WINDOW_MS - now);
    }
    return wait;
  }
}

function prune(times: number[], now: number): void {
  while (times.length > 0 && now - (times[0] as number) >= WINDOW_MS) times.shift();
}
