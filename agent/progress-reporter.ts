// Progress the way the platform and its official demo expect: only forward, when it moved 5 points
// or more and at most once a second, and always at 100.
import type { Clock } from '../shared/clock.js';

export class ProgressReporter {
  readonly #send: (step: number, desc: string) => void;
  readonly #clock: Clock;
  readonly #minStep: number;
  readonly #minIntervalMs: number;
  #last = -1;
  #lastAtMs = -Infinity;

  constructor(send: (step: number, desc: string) => void, clock: Clock, minStep: number, minIntervalMs: number) {
    this.#send = send;
    this.#clock = clock;
    this.#minStep = minStep;
    this.#minIntervalMs = minIntervalMs;
  }

  get last(): number {
    return this.#last;
  }

  /** Report `pct` (0–100) if it is worth a message; never goes backwards. */
  report(pct: number, desc: string, force = false): void {
    const step = Math.max(0, Math.min(100, Math.floor(pct)));
    if (step <= this.#last && !(force && step === 100 && this.#last !== 100)) return;
    const now = this.#clock.now();
    const due = step === 100 || this.#last < 0 || force
      || (step - this.#last >= this.#minStep && now - this.#lastAtMs >= this.#minIntervalMs);
    if (!due) return;
    this.#last = step;
    this.#lastAtMs = now;
    this.#send(step, desc);
  }

  /**
   * Say what is happening without moving the percent (a soak's "self-test 2/6"): the last step
   * again with a new desc, or `fromPct` when nothing was reported yet (a flow resumed after a restart).
   */
  restate(desc: string, fromPct: number): void {
    if (this.#last >= 100) return;
    if (this.#last < 0) this.#last = Math.max(0, Math.min(99, Math.floor(fromPct)));
    this.#lastAtMs = this.#clock.now();
    this.#send(this.#last, desc);
  }
}
