// OpenAPI RPC request signing, SignatureVersion 1.0 (docs/platform.md, § Request signing V1). The lab checks requests with
// the same functions the platform's rule describes; the official client signs them on its own.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** RFC 3986: unreserved characters kept, space as %20, `*` as %2A, `~` kept. */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export type RpcParams = Readonly<Record<string, string>>;

export function canonicalQuery(params: RpcParams): string {
  return Object.keys(params)
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k] ?? '')}`)
    .join('&');
}

export function stringToSign(method: string, params: RpcParams): string {
  return `${method.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`;
}

/** Signature over every param except `Signature` itself. */
export function signRpc(method: string, params: RpcParams, accessKeySecret: string): string {
  const unsigned = Object.fromEntries(Object.entries(params).filter(([k]) => k !== 'Signature'));
  return createHmac('sha1', `${accessKeySecret}&`).update(stringToSign(method, unsigned)).digest('base64');
}

export function checkRpcSignature(method: string, params: RpcParams, accessKeySecret: string): boolean {
  const given = Buffer.from(params.Signature ?? '', 'utf8');
  const want = Buffer.from(signRpc(method, params, accessKeySecret), 'utf8');
  return given.length === want.length && timingSafeEqual(given, want);
}

/** `YYYY-MM-DDThh:mm:ssZ`, the only form the platform takes. */
export function rpcTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
