// The gateway's checks on every RPC request, in the platform's order and with its codes. Two
// signatures are taken, as on the platform: V1 (HMAC-SHA1 over the sorted parameters, `Signature`
// among them) and V3 (`Authorization: ACS3-HMAC-SHA256 …` over the canonical request, action and
// version in `x-acs-action` / `x-acs-version`). Both share the 15-minute clock window, the nonce
// replay check and the refusal codes.
import type { Clock } from '../shared/clock.js';
import { checkRpcSignature } from '../shared/api-signing.js';
import { checkV3Signature, parseV3Authorization, V3_ALGORITHM } from '../shared/api-signing-v3.js';
import type { AccessKey } from './model.js';
import type { RpcRequest } from './api-request.js';
import { apiError, invalidParameter, missingParameter } from './api-error.js';

const REQUIRED_V1 = ['Action', 'Version', 'AccessKeyId', 'Signature', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp'] as const;
const REQUIRED_V3 = ['x-acs-action', 'x-acs-version', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256'] as const;
export const API_VERSION = '2018-01-20';
const MAX_SKEW_MS = 15 * 60_000;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

export interface Caller {
  accessKeyId: string;
  action: string;
}

export class RequestAuth {
  readonly #clock: Clock;
  readonly #keys: () => readonly AccessKey[];
  /** Nonces seen within the skew window; older ones cannot replay because their timestamp expired. */
  readonly #nonces = new Map<string, number>();

  constructor(clock: Clock, keys: () => readonly AccessKey[]) {
    this.#clock = clock;
    this.#keys = keys;
  }

  /** The action a request names, before any check (for the request log): V3 header or V1 parameter. */
  static actionOf(req: RpcRequest): string {
    return header(req, 'x-acs-action') ?? req.params.Action ?? '';
  }

  /** Throws the platform's refusal, or returns who called which action. */
  check(req: RpcRequest): Caller {
    const authorization = header(req, 'authorization');
    return authorization?.startsWith('ACS3-') ? this.#checkV3(req, authorization) : this.#checkV1(req);
  }

  #checkV1(req: RpcRequest): Caller {
    const params = req.params;
    for (const name of REQUIRED_V1) if (!params[name]) throw missingParameter(name);
    const key = this.#key(params.AccessKeyId as string);
    if (params.SignatureMethod !== 'HMAC-SHA1') throw invalidParameter('SignatureMethod', 'HMAC-SHA1', params.SignatureMethod);
    if (params.SignatureVersion !== '1.0') throw invalidParameter('SignatureVersion', '1.0', params.SignatureVersion);
    const now = this.#checkTime(params.Timestamp as string);
    if (!checkRpcSignature(req.method, params, key.accessKeySecret)) throw signatureMismatch();
    this.#useNonce(params.SignatureNonce as string, now);
    checkVersion(params.Version as string);
    return { accessKeyId: key.accessKeyId, action: params.Action as string };
  }

  #checkV3(req: RpcRequest, authorization: string): Caller {
    const auth = parseV3Authorization(authorization);
    if (!auth) throw incomplete(`expected "${V3_ALGORITHM} Credential=<AccessKeyId>,SignedHeaders=<names>,Signature=<hex>"`);
    if (auth.algorithm !== V3_ALGORITHM) throw incomplete(`the signature algorithm must be ${V3_ALGORITHM}, got ${JSON.stringify(auth.algorithm.slice(0, 40))}`);
    for (const name of REQUIRED_V3) if (!header(req, name)) throw missingParameter(name);
    // Every common header present must be signed, or a caller could change it under a valid signature.
    const mustSign = ['host', ...Object.keys(req.headers).filter((h) => h.startsWith('x-acs-'))];
    const unsigned = mustSign.filter((h) => !auth.signedHeaders.includes(h));
    if (unsigned.length > 0) throw incomplete(`SignedHeaders must include ${unsigned.join(', ')}`);
    const key = this.#key(auth.accessKeyId);
    const now = this.#checkTime(header(req, 'x-acs-date') as string);
    if (header(req, 'x-acs-content-sha256') !== req.bodySha256) {
      throw apiError('SignatureDoesNotMatch', 'Specified signature is not matched with our calculation: x-acs-content-sha256 is not the SHA-256 of the body received.', 400);
    }
    if (!checkV3Signature(req, auth, key.accessKeySecret)) throw signatureMismatch();
    this.#useNonce(header(req, 'x-acs-signature-nonce') as string, now);
    checkVersion(header(req, 'x-acs-version') as string);
    return { accessKeyId: key.accessKeyId, action: header(req, 'x-acs-action') as string };
  }

  #key(accessKeyId: string): AccessKey {
    const key = this.#keys().find((k) => k.accessKeyId === accessKeyId);
    if (!key) throw apiError('InvalidAccessKeyId.NotFound', 'Specified access key is not found.', 404);
    return key;
  }

  /** `YYYY-MM-DDThh:mm:ssZ` within 15 minutes of the server's clock; returns the server's now. */
  #checkTime(ts: string): number {
    if (!TIMESTAMP.test(ts) || Number.isNaN(Date.parse(ts))) {
      throw apiError('InvalidTimeStamp.Format', `Specified time stamp or date value is not well formatted: expected YYYY-MM-DDThh:mm:ssZ, got ${JSON.stringify(ts.slice(0, 40))}.`, 400);
    }
    const now = this.#clock.now();
    if (Math.abs(now - Date.parse(ts)) > MAX_SKEW_MS) {
      throw apiError('InvalidTimeStamp.Expired', `Specified time stamp or date value is expired: ${ts} is more than 15 minutes from the server's time.`, 400);
    }
    return now;
  }

  #useNonce(nonce: string, now: number): void {
    this.#forgetOldNonces(now);
    if (this.#nonces.has(nonce)) throw apiError('SignatureNonceUsed', 'Specified signature nonce was used already.', 400);
    this.#nonces.set(nonce, now);
  }

  /** A nonce is remembered while a request signed with it could still be in time. The map is in
   *  arrival order, so the old ones are at its head: stop at the first that is still young. (Scanning
   *  the whole map on every request once it held 10,000 took 17 % of the lab's time with 500 jobs watched.) */
  #forgetOldNonces(now: number): void {
    for (const [n, at] of this.#nonces) {
      if (now - at <= 2 * MAX_SKEW_MS) return;
      this.#nonces.delete(n);
    }
  }
}

function header(req: RpcRequest, name: string): string | undefined {
  const v = req.headers[name];
  return v && v.length > 0 ? v.join(',') : undefined;
}

function checkVersion(version: string): void {
  if (version !== API_VERSION) throw apiError('InvalidVersion', `Specified parameter Version is not valid: expected ${API_VERSION}.`, 400);
}

function signatureMismatch() {
  return apiError('SignatureDoesNotMatch', 'Specified signature is not matched with our calculation.', 400);
}

function incomplete(detail: string) {
  return apiError('IncompleteSignature', `The request signature does not conform to Aliyun standards: ${detail}.`, 400);
}
