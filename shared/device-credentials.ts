// Device MQTT credentials, docs/platform.md (§ Device connection): clientId `<id>|k=v,…|`, username `<dn>&<pk>`, password =
// hex HMAC over the sorted params clientId/deviceName/productKey/timestamp.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { OtaError, quote } from './errors.js';
import { checkSegment, type DeviceId } from './topics.js';

export const DEVICE_SIGN_METHODS = ['hmacmd5', 'hmacsha1', 'hmacsha256'] as const;
export type DeviceSignMethod = (typeof DEVICE_SIGN_METHODS)[number];

const HMAC_ALG: Readonly<Record<DeviceSignMethod, string>> = { hmacmd5: 'md5', hmacsha1: 'sha1', hmacsha256: 'sha256' };

/** `2` TLS, `3` plain TCP. */
export type SecureMode = 2 | 3;

export interface CredentialInput extends DeviceId {
  deviceSecret: string;
  signMethod?: DeviceSignMethod;
  secureMode?: SecureMode;
  /** The part of the clientId before the first bar; the C SDKs use `<pk>.<dn>`. */
  clientIdBase?: string;
  /** The C SDKs send a fixed 2524608000000: the platform does not check freshness. */
  timestampMs?: number;
}

export interface MqttCredentials {
  clientId: string;
  username: string;
  password: string;
}

export function signDeviceCredentials(input: CredentialInput): MqttCredentials {
  const productKey = checkSegment('productKey', input.productKey);
  const deviceName = checkSegment('deviceName', input.deviceName);
  const signMethod = input.signMethod ?? 'hmacsha256';
  const base = input.clientIdBase ?? `${productKey}.${deviceName}`;
  if (base.includes('|') || base.length > 64) {
    throw new OtaError('INVALID_CLIENT_ID', `clientId base ${quote(base)} is not usable`, {
      expected: 'at most 64 characters without "|"', found: quote(base),
    });
  }
  const timestamp = String(input.timestampMs ?? Date.now());
  const password = hmacHex(signMethod, input.deviceSecret, signingContent({ clientId: base, deviceName, productKey, timestamp }));
  return {
    clientId: `${base}|securemode=${input.secureMode ?? 2},signmethod=${signMethod},timestamp=${timestamp}|`,
    username: `${deviceName}&${productKey}`,
    password,
  };
}

export interface ParsedClientId {
  id: string;
  params: Readonly<Record<string, string>>;
}

/** Split `<id>|k=v,k=v|`; a clientId without bars is only an id. Unknown params are kept, not judged. */
export function parseClientId(raw: string): ParsedClientId {
  const first = raw.indexOf('|');
  if (first < 0) return { id: raw, params: {} };
  const last = raw.lastIndexOf('|');
  const id = raw.slice(0, first);
  const inner = last > first ? raw.slice(first + 1, last) : raw.slice(first + 1);
  const params: Record<string, string> = {};
  for (const part of inner.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return { id, params };
}

/** Who is connecting, from the username; throws BAD_CREDENTIALS when it is not `<dn>&<pk>`. */
export function parseUsername(username: string | undefined): DeviceId {
  const parts = (username ?? '').split('&');
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new OtaError('BAD_CREDENTIALS', `username ${quote(username ?? '')} is not "<deviceName>&<productKey>"`, {
      expected: '<deviceName>&<productKey>', found: quote(username ?? ''),
    });
  }
  return { deviceName: parts[0], productKey: parts[1] };
}

/**
 * Check a CONNECT's credentials against the device's secret. Hex case is ignored (C SDKs send upper
 * case, Node lower). Throws OtaError BAD_CREDENTIALS; the message never contains the secret.
 */
export function checkDeviceCredentials(creds: MqttCredentials, device: DeviceId, deviceSecret: string): void {
  const { id, params } = parseClientId(creds.clientId);
  const method = (params.signmethod ?? '').toLowerCase() as DeviceSignMethod;
  if (!DEVICE_SIGN_METHODS.includes(method)) {
    throw new OtaError('BAD_CREDENTIALS', `signmethod ${quote(params.signmethod ?? '')} is not supported`, {
      expected: DEVICE_SIGN_METHODS.join(', '), found: quote(params.signmethod ?? ''),
    });
  }
  const content = signingContent({ clientId: id, deviceName: device.deviceName, productKey: device.productKey, timestamp: params.timestamp });
  const want = Buffer.from(hmacHex(method, deviceSecret, content), 'utf8');
  const got = Buffer.from(creds.password.toLowerCase(), 'utf8');
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    throw new OtaError('BAD_CREDENTIALS', `password does not match for device ${device.productKey}/${device.deviceName}`, {
      expected: `hex ${method} over the signed params`, found: 'a different signature',
    });
  }
}

/** The HMAC message: params sorted by name, each as name then value; absent ones left out. */
export function signingContent(params: Record<string, string | undefined>): string {
  return Object.keys(params)
    .filter((k) => params[k] !== undefined)
    .sort()
    .map((k) => `${k}${params[k]}`)
    .join('');
}

function hmacHex(method: DeviceSignMethod, secret: string, content: string): string {
  return createHmac(HMAC_ALG[method], secret).update(content).digest('hex');
}
