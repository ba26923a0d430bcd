// Download URLs signed and expiring like the platform's object-store URLs: `Expires` (epoch
// seconds), `OSSAccessKeyId` and `Signature` (base64 HMAC-SHA1 over method, expiry and path).
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface UrlSignerKey {
  accessKeyId: string;
  secret: string;
}

/** Signed URLs stay at or under this length: the C Link SDK keeps a URL's length in one byte and
 *  breaks at 255 characters, and the platform's own URLs are well under it. */
export const SIGNED_URL_MAX_CHARS = 250;

function signature(key: UrlSignerKey, expiresSec: number, path: string): string {
  return createHmac('sha1', key.secret).update(`GET\n${expiresSec}\n${path}`).digest('base64');
}

function signedQuery(key: UrlSignerKey, expiresSec: number, sig: string): string {
  return new URLSearchParams({ Expires: String(expiresSec), OSSAccessKeyId: key.accessKeyId, Signature: sig }).toString();
}

/** `base` is the server's origin, `path` the object path (`/fw/<key>`). */
export function signObjectUrl(key: UrlSignerKey, base: string, path: string, expiresSec: number): string {
  return `${base}${path}?${signedQuery(key, expiresSec, signature(key, expiresSec, path))}`;
}

/** The longest a signed URL for `path` can be: a 10-digit expiry and a signature whose every
 *  character needs escaping (27 of `+` or `/` and the closing `=`). */
export function longestSignedUrl(key: UrlSignerKey, base: string, path: string): number {
  return `${base}${path}?${signedQuery(key, 9_999_999_999, `${'+'.repeat(27)}=`)}`.length;
}

export type UrlCheck = 'ok' | 'expired' | 'bad-signature';

export function checkObjectUrl(key: UrlSignerKey, path: string, query: URLSearchParams, nowMs: number): UrlCheck {
  const expires = Number(query.get('Expires'));
  const given = Buffer.from(query.get('Signature') ?? '');
  if (!Number.isInteger(expires) || query.get('OSSAccessKeyId') !== key.accessKeyId) return 'bad-signature';
  const want = Buffer.from(signature(key, expires, path));
  if (given.length !== want.length || !timingSafeEqual(given, want)) return 'bad-signature';
  return expires * 1000 < nowMs ? 'expired' : 'ok';
}
