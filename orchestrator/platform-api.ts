// Every OpenAPI call of ota-verify goes through here: the shared rate limiter first, then the call,
// then retries with exponential backoff and jitter for throttling, the platform's transient errors,
// timeouts and network failures. Business refusals are never retried.
import { backoffDelayMs } from '../shared/backoff.js';
import { RETRYABLE_PLATFORM_CODES } from '../shared/api-limits.js';
import { sleepOn, type Clock } from '../shared/clock.js';
import { isOtaError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ApiCall, ApiParams, ApiResponse } from '../shared/openapi-client.js';
import type { RateLimiter } from './rate-limiter.js';

export interface PlatformApiOptions {
  call: ApiCall;
  limiter: RateLimiter;
  clock: Clock;
  log: Logger;
  /** Attempts per call, the first included. */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export function isRetryable(err: unknown): boolean {
  if (isOtaError(err, 'TRANSPORT_ERROR')) return true;
  return isOtaError(err, 'PLATFORM_ERROR') && RETRYABLE_PLATFORM_CODES.has(String(err.details.platformCode));
}

const NOT_THERE = new Set(['ECONNREFUSED', 'ENOTFOUND']);

/** Pages read at most per list: 100 pages of 100 tasks is far beyond a verify job's 10 devices. */
const MAX_PAGES = 100;

export class PlatformApi {
  readonly #o: PlatformApiOptions;
  /** Calls sent, by action: the benchmark reports requests per job from these. */
  readonly sent = new Map<string, number>();
  /** Whether any call has had an answer: until then a refused connection is not retried. */
  #reached = false;

  constructor(o: PlatformApiOptions) {
    this.#o = o;
  }

  /** One call with retries; `retry: false` for calls that are not idempotent (CreateOTAVerifyJob);
   *  `urgent` to go ahead of queued calls in the limiter. */
  async request(action: string, params: ApiParams, opts: { retry?: boolean; urgent?: boolean } = {}): Promise<ApiResponse> {
    for (let attempt = 1; ; attempt++) {
      const askedMs = this.#o.clock.now();
      await this.#o.limiter.acquire(action, { urgent: opts.urgent });
      this.sent.set(action, (this.sent.get(action) ?? 0) + 1);
      const sentMs = this.#o.clock.now();
      try {
        const answer = await this.#o.call(action, params);
        this.#reached = true;
        // Where a run's time goes: held by the limiter, then the round trip (--log-level debug).
        this.#o.log.debug({ action, attempt, heldMs: sentMs - askedMs, tookMs: this.#o.clock.now() - sentMs }, 'api call');
        return answer;
      } catch (err) {
        if (isOtaError(err, 'PLATFORM_ERROR')) this.#reached = true;
        // Nothing has ever answered at this address (wrong endpoint, lab not running): say so now
        // rather than after a minute of backoff. Once it has answered, a refusal is an outage: retry.
        const neverThere = !this.#reached && isOtaError(err, 'TRANSPORT_ERROR') && NOT_THERE.has(String(err.details.netCode));
        if (opts.retry === false || neverThere || !isRetryable(err) || attempt >= this.#o.maxAttempts) throw err;
        const delayMs = backoffDelayMs(attempt - 1, this.#o.backoffBaseMs, this.#o.backoffMaxMs);
        this.#o.log.debug({ action, attempt, delayMs, err: errorMessage(err) }, 'retrying');
        await sleepOn(this.#o.clock, delayMs);
      }
    }
  }

  /** Whether an optional call now would go at once without delaying anyone's (see RateLimiter.idle). */
  idle(): boolean {
    return this.#o.limiter.idle();
  }

  /** Every page of a list API, `rowsOf` picking the rows out of each answer. */
  async all<T>(action: string, params: ApiParams, pageSize: number, rowsOf: (r: ApiResponse) => T[], opts: { urgent?: boolean } = {}): Promise<T[]> {
    const rows: T[] = [];
    // A platform that kept announcing more pages would otherwise keep us reading forever.
    for (let page = 1; page <= MAX_PAGES; page++) {
      const r = await this.request(action, { ...params, PageSize: pageSize, CurrentPage: page }, opts);
      const got = rowsOf(r);
      rows.push(...got);
      const pageCount = Number(r.PageCount ?? 1);
      if (!(page < pageCount) || got.length === 0) return rows;
    }
    return rows;
  }
}
