// Retries of the one API client: a refused connection before anything ever answered is said at once
// (wrong endpoint, lab not running); once the platform has answered, the same refusal is an outage and
// is retried with backoff.
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../shared/clock.js';
import { OtaError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { PlatformApi } from '../../orchestrator/platform-api.js';
import { RateLimiter } from '../../orchestrator/rate-limiter.js';

function apiWith(answers: ('ok' | 'refused')[]) {
  let calls = 0;
  const call = () => {
    const a = answers[Math.min(calls++, answers.length - 1)];
    return a === 'ok' ? Promise.resolve({ Success: true }) : Promise.reject(new OtaError('TRANSPORT_ERROR', 'connect ECONNREFUSED', { details: { netCode: 'ECONNREFUSED' } }));
  };
  const api = new PlatformApi({ call, limiter: new RateLimiter(systemClock, 100_000, {}), clock: systemClock, log: silentLogger(), maxAttempts: 4, backoffBaseMs: 1, backoffMaxMs: 2 });
  return { api, calls: () => calls };
}

describe('retrying a refused connection', () => {
  it('does not retry when nothing has ever answered', async () => {
    const p = apiWith(['refused']);
    await expect(p.api.request('QueryOTAFirmware', {})).rejects.toMatchObject({ code: 'TRANSPORT_ERROR' });
    expect(p.calls()).toBe(1);
  });

  it('retries once the platform has answered before', async () => {
    const p = apiWith(['ok', 'refused', 'refused', 'ok']);
    await p.api.request('QueryOTAFirmware', {});
    await expect(p.api.request('QueryOTAFirmware', {})).resolves.toMatchObject({ Success: true });
    expect(p.calls()).toBe(4);
  });
});
