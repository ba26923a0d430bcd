// OpenAPI request signing V3 (ACS3-HMAC-SHA256), as the generated SDKs (`@alicloud/iot20180120` over
// `@alicloud/openapi-client`) sign by default (docs/platform.md). The platform takes V1 and V3 alike;
// the lab checks V3 with these functions.
//   CanonicalRequest = METHOD \n URI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n hex(SHA256(body))
//   StringToSign     = "ACS3-HMAC-SHA256" \n hex(SHA256(CanonicalRequest))
//   Signature        = hex(HMAC-SHA256(secret, StringToSign))
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { percentEncode } from './api-signing.js';

export const V3_ALGORITHM = 'ACS3-HMAC-SHA256';

export interface V3Request {
  method: string;
  /** The request path, `/` for RPC. */
  path: string;
  /** Query-string parameters only (a form body is covered by the body hash, not by the query). */
  query: Readonly<Record<string, string>>;
  /** Header values by lower-case name; a repeated header has several values. */
  headers: Readonly<Record<string, readonly string[]>>;
  /** hex SHA-256 of the body bytes as received. */
  bodySha256: string;
}

export interface V3Authorization {
  algorithm: string;
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=a;b,Signature=…`, or undefined when it is not that shape. */
export function parseV3Authorization(value: string): V3Authorization | undefined {
  const m = /^(\S+) (.*)$/.exec(value.trim());
  if (!m) return undefined;
  const fields = new Map<string, string>();
  for (const part of (m[2] as string).split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const accessKeyId = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!accessKeyId || !signed || !signature) return undefined;
  return { algorithm: m[1] as string, accessKeyId, signedHeaders: signed.split(';'), signature };
}

export function canonicalRequestV3(req: V3Request, signedHeaders: readonly string[]): string {
  const query = Object.keys(req.query).sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(req.query[k] ?? '')}`).join('&');
  // Several values of one header are sorted and joined with "," (as the SDK's signer does).
  const headers = [...signedHeaders].sort()
    .map((h) => `${h}:${[...(req.headers[h] ?? [])].map((v) => v.trim()).sort().join(',')}\n`).join('');
  return [req.method.toUpperCase(), req.path, query, headers, [...signedHeaders].sort().join(';'), req.bodySha256].join('\n');
}

export function signV3(req: V3Request, signedHeaders: readonly string[], accessKeySecret: string): string {
  const stringToSign = `${V3_ALGORITHM}\n${sha256Hex(canonicalRequestV3(req, signedHeaders))}`;
  return createHmac('sha256', accessKeySecret).update(stringToSign).digest('hex');
}

export function checkV3Signature(req: V3Request, auth: V3Authorization, accessKeySecret: string): boolean {
  const given = Buffer.from(auth.signature.toLowerCase(), 'utf8');
  const want = Buffer.from(signV3(req, auth.signedHeaders, accessKeySecret), 'utf8');
  return given.length === want.length && timingSafeEqual(given, want);
}
