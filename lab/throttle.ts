// Per-API QPS limits of docs/platform.md (§ OpenAPI), counted per AccessKey over a sliding one-second window.
import { PLATFORM_QPS } from '../shared/api-limits.js';
import type { Clock } from '../shared/clock.js';

/** `platform` uses PLATFORM_QPS, `off` counts nothing (benchmarks), a record sets limits per action. */
export type ThrottleSetting = 'platform' | 'off' | Readonly<Record<string, number>>;

export class QpsLimiter {
  readonly #clock: Clock;
  readonly #limits: Readonly<Record<string, number>> | undefined;
  readonly #hits = new Map<string, number[]>();

  constructor(setting: ThrottleSetting, clock: Clock) {
    this.#clock = clock;
    this.#limits = setting === 'off' ? undefined : setting === 'platform' ? PLATFORM_QPS : { ...PLATFORM_QPS, ...setting };
  }

  /** Count one call; false when it is over the action's limit (and then it is not counted). */
  admit(accessKeyId: string, action: string): boolean {
    const limit = this.#limits?.[action];
    if (limit === undefined) return true;
    const key = `${accessKeyId}\n${action}`;
    const now = this.#clock.now();
    const recent = (this.#hits.get(key) ?? []).filter((t) => now - t < 1000);
    if (recent.length >= limit) {
      this.#hits.set(key, recent);
      return false;
    }
    recent.push(now);
    this.#hits.set(key, recent);
    return true;
  }
}
