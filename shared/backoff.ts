// Bounded exponential backoff with jitter, used for reconnects, download retries and API retries.

/** Delay before retry number `attempt` (0-based): half fixed, half random, capped at `maxMs`. */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
