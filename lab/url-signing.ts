// Download URLs signed and expiring like the platform's object-store URLs: `Expires` (epoch
// seconds), `OSSAccessKeyId` and `Signature` (base64 HMAC-SHA1 over method, expiry and path).
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface UrlSignerKey {
  accessKeyId: string;
  secret: string;
}

function signature(key: UrlSignerKey, expiresSec: number, path: string): string {
  return createHmac('sha1', key.secret).update(`GET\n${expiresSec}\n${path}`).digest('base64');
}

/** `base` is the server's origin, `path` the object path (`/fw/<key>`). */
export function signObjectUrl(key: UrlSignerKey, base: string, path: string, expiresSec: number): string {
  const q = new URLSearchParams({ Expires: String(expiresSec), OSSAccessKeyId: key.accessKeyId, Signature: signature(key, expiresSec, path) });
  return `${base}${path}?${q.toString()}`;
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
