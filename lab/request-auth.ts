// The gateway's checks on every RPC request, in the platform's order and with its codes.
import type { Clock } from '../shared/clock.js';
import { checkRpcSignature } from '../shared/api-signing.js';
import type { AccessKey } from './model.js';
import { apiError, invalidParameter, missingParameter } from './api-error.js';

const REQUIRED = ['Action', 'Version', 'AccessKeyId', 'Signature', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp'] as const;
export const API_VERSION = '2018-01-20';
const MAX_SKEW_MS = 15 * 60_000;

export class RequestAuth {
  readonly #clock: Clock;
  readonly #keys: () => readonly AccessKey[];
  /** Nonces seen within the skew window; older ones cannot replay because their timestamp expired. */
  readonly #nonces = new Map<string, number>();

  constructor(clock: Clock, keys: () => readonly AccessKey[]) {
    this.#clock = clock;
    this.#keys = keys;
  }

  /** Throws the platform's refusal, or returns the caller's AccessKeyId. */
  check(method: string, params: Readonly<Record<string, string>>): string {
    for (const name of REQUIRED) if (!params[name]) throw missingParameter(name);
    const key = this.#keys().find((k) => k.accessKeyId === params.AccessKeyId);
    if (!key) throw apiError('InvalidAccessKeyId.NotFound', 'Specified access key is not found.', 404);
    if (params.SignatureMethod !== 'HMAC-SHA1') throw invalidParameter('SignatureMethod', 'HMAC-SHA1', params.SignatureMethod);
    if (params.SignatureVersion !== '1.0') throw invalidParameter('SignatureVersion', '1.0', params.SignatureVersion);
    const ts = params.Timestamp as string;
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(ts) || Number.isNaN(Date.parse(ts))) {
      throw apiError('InvalidTimeStamp.Format', `Specified time stamp or date value is not well formatted: expected YYYY-MM-DDThh:mm:ssZ, got ${JSON.stringify(ts)}.`, 400);
    }
    const now = this.#clock.now();
    if (Math.abs(now - Date.parse(ts)) > MAX_SKEW_MS) {
      throw apiError('InvalidTimeStamp.Expired', `Specified time stamp or date value is expired: ${ts} is more than 15 minutes from the server's time.`, 400);
    }
    if (!checkRpcSignature(method, params, key.accessKeySecret)) {
      throw apiError('SignatureDoesNotMatch', 'Specified signature is not matched with our calculation.', 400);
    }
    const nonce = params.SignatureNonce as string;
    this.#forgetOldNonces(now);
    if (this.#nonces.has(nonce)) throw apiError('SignatureNonceUsed', 'Specified signature nonce was used already.', 400);
    this.#nonces.set(nonce, now);
    if (params.Version !== API_VERSION) throw apiError('InvalidVersion', `Specified parameter Version is not valid: expected ${API_VERSION}.`, 400);
    return key.accessKeyId;
  }

  #forgetOldNonces(now: number): void {
    if (this.#nonces.size < 10_000) return;
    for (const [n, at] of this.#nonces) if (now - at > 2 * MAX_SKEW_MS) this.#nonces.delete(n);
  }
}
