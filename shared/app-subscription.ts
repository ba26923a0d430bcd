// Server-side subscription (docs/platform.md, § Server-side subscription): how an application, not a
// device, observes every device of its account. The platform forwards device status changes, OTA
// task status notices, OTA progress and module version reports to the account's application (AMQP
// on the platform; MQTT on the lab, same topics and payloads). This file holds the topic names, the
// application login and the shapes of the forwarded messages, for the lab and for any observer.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { OtaError, quote } from './errors.js';
import { checkSegment, type DeviceId } from './topics.js';

/** The forwarded topics, as the platform's server-side subscription names them. */
export const APP_TOPICS = Object.freeze({
  /** Device status change notice: `status` online/offline. */
  status: (id: DeviceId) => `/as/mqtt/status/${seg(id.productKey)}/${seg(id.deviceName)}`,
  /** OTA upgrade status notice: a task SUCCEEDED, FAILED or was CANCELED (or timed out). */
  upgrade: (id: DeviceId) => `/${seg(id.productKey)}/${seg(id.deviceName)}/ota/upgrade`,
  /** OTA progress: every step a device reported. */
  progress: (id: DeviceId) => `/${seg(id.productKey)}/${seg(id.deviceName)}/ota/progress/post`,
  /** OTA module version report: every version a device reported. */
  version: (id: DeviceId) => `/${seg(id.productKey)}/${seg(id.deviceName)}/ota/version/post`,
  /** OTA job (batch) status notice: the job ended. */
  jobStatus: (productKey: string, packageId: string, jobId: string) => `/${seg(productKey)}/${seg(packageId)}/${seg(jobId)}/ota/job/status`,
});

/** What an application may subscribe to: these filters, or any of them with a concrete name in place of a `+`. */
export const APP_TOPIC_FILTERS: readonly string[] = Object.freeze([
  '/as/mqtt/status/+/+',
  '/+/+/ota/upgrade',
  '/+/+/ota/progress/post',
  '/+/+/ota/version/post',
  '/+/+/+/ota/job/status',
]);

function seg(v: string): string {
  return checkSegment('topic segment', v);
}

/** May an application subscribe to `filter`? Only forwarded topics; `#` and wildcards elsewhere are refused. */
export function appMaySubscribe(filter: string): boolean {
  if (filter.length > 512) return false;
  const levels = filter.split('/');
  return APP_TOPIC_FILTERS.some((pattern) => {
    const want = pattern.split('/');
    return want.length === levels.length && want.every((w, i) => {
      const got = levels[i] as string;
      if (w === '+') return got === '+' || (got !== '' && !/[+#]/.test(got));
      return got === w;
    });
  });
}

export type AppMessage =
  | { kind: 'status'; topic: string; productKey: string; deviceName: string; body: DeviceStatusNotice }
  | { kind: 'upgrade'; topic: string; productKey: string; deviceName: string; body: OtaUpgradeNotice }
  | { kind: 'progress'; topic: string; productKey: string; deviceName: string; body: OtaProgressNotice }
  | { kind: 'version'; topic: string; productKey: string; deviceName: string; body: OtaVersionNotice }
  | { kind: 'jobStatus'; topic: string; productKey: string; jobId: string; body: OtaJobStatusNotice };

export interface DeviceStatusNotice {
  status: 'online' | 'offline';
  iotId: string;
  productKey: string;
  deviceName: string;
  /** Local time `yyyy-MM-dd HH:mm:ss.SSS` (the lab runs in UTC). */
  time: string;
  utcTime: string;
}

export interface OtaUpgradeNotice {
  iotId: string;
  productKey: string;
  deviceName: string;
  moduleName: string;
  status: string;
  messageCreateTime: number;
  srcVersion: string;
  destVersion: string;
  desc: string;
  jobId: string;
  taskId: string;
}

export interface OtaProgressNotice {
  iotId: string;
  productKey: string;
  deviceName: string;
  moduleName: string;
  step: number;
  desc: string;
  messageCreateTime: number;
  /** Present when the device had a task for that module (the lab forwards a step without a task too). */
  srcVersion?: string;
  destVersion?: string;
  jobId?: string;
  taskId?: string;
}

export interface OtaVersionNotice {
  iotId: string;
  productKey: string;
  deviceName: string;
  moduleName: string;
  moduleVersion: string;
  messageCreateTime: number;
}

export interface OtaJobStatusNotice {
  productKey: string;
  packageId: string;
  jobId: string;
  status: string;
  messageCreateTime: number;
}

/** Recognise a forwarded message; undefined for any other topic or a body that is not a JSON object. */
export function parseAppMessage(topic: string, payload: Buffer | string): AppMessage | undefined {
  const p = topic.split('/');
  let body: unknown;
  try {
    body = JSON.parse(payload.toString());
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  if (p.length === 6 && p[1] === 'as' && p[2] === 'mqtt' && p[3] === 'status') {
    return { kind: 'status', topic, productKey: p[4] as string, deviceName: p[5] as string, body: body as DeviceStatusNotice };
  }
  const [, pk, dn, ota, a, b] = p;
  if (!pk || !dn || ota !== 'ota') {
    if (p.length === 7 && p[4] === 'ota' && p[5] === 'job' && p[6] === 'status' && p[1] && p[3]) {
      return { kind: 'jobStatus', topic, productKey: p[1], jobId: p[3], body: body as OtaJobStatusNotice };
    }
    return undefined;
  }
  const id = { topic, productKey: pk, deviceName: dn };
  if (p.length === 5 && a === 'upgrade') return { kind: 'upgrade', ...id, body: body as OtaUpgradeNotice };
  if (p.length === 6 && a === 'progress' && b === 'post') return { kind: 'progress', ...id, body: body as OtaProgressNotice };
  if (p.length === 6 && a === 'version' && b === 'post') return { kind: 'version', ...id, body: body as OtaVersionNotice };
  return undefined;
}

// ---- The application login -------------------------------------------------------------------
// Modelled on the platform's AMQP client login: username
// `<clientId>|authMode=aksign,signMethod=hmacsha1,timestamp=<ms>,authId=<AccessKeyId>,consumerGroupId=<group>|`
// and password = Base64(HMAC-SHA1(AccessKeySecret, "authId=<AccessKeyId>&timestamp=<ms>")).

export interface AppCredentialInput {
  accessKeyId: string;
  accessKeySecret: string;
  /** Names this connection; free text without `|`. */
  clientId?: string;
  consumerGroupId?: string;
  timestampMs?: number;
}

export function signAppCredentials(input: AppCredentialInput): { clientId: string; username: string; password: string } {
  const clientId = input.clientId ?? `app-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  if (clientId.includes('|') || clientId.length > 64) {
    throw new OtaError('INVALID_CLIENT_ID', `application clientId ${quote(clientId)} is not usable`, { expected: 'at most 64 characters without "|"' });
  }
  const timestamp = String(input.timestampMs ?? Date.now());
  const group = input.consumerGroupId ?? 'DEFAULT_GROUP';
  return {
    clientId,
    username: `${clientId}|authMode=aksign,signMethod=hmacsha1,timestamp=${timestamp},authId=${input.accessKeyId},consumerGroupId=${group}|`,
    password: appPassword(input.accessKeySecret, input.accessKeyId, timestamp),
  };
}

function appPassword(secret: string, accessKeyId: string, timestamp: string): string {
  return createHmac('sha1', secret).update(`authId=${accessKeyId}&timestamp=${timestamp}`).digest('base64');
}

/** Does this username ask for an application login (rather than a device's `<dn>&<pk>`)? */
export function isAppUsername(username: string | undefined): boolean {
  return typeof username === 'string' && /\|(?:[^|]*,)?authMode=aksign(?:,[^|]*)?\|$/.test(username);
}

/** Check an application login; returns its AccessKeyId. Throws BAD_CREDENTIALS (never naming the secret). */
export function checkAppCredentials(username: string, password: string, secretOf: (accessKeyId: string) => string | undefined): string {
  const params = Object.fromEntries((/\|([^|]*)\|$/.exec(username)?.[1] ?? '').split(',').map((kv) => {
    const i = kv.indexOf('=');
    return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
  })) as Record<string, string | undefined>;
  const bad = (why: string) => new OtaError('BAD_CREDENTIALS', `application login refused: ${why}`, {
    expected: 'username "<clientId>|authMode=aksign,signMethod=hmacsha1,timestamp=<ms>,authId=<AccessKeyId>|" and password Base64(HMAC-SHA1(secret, "authId=<AccessKeyId>&timestamp=<ms>"))',
  });
  if (params.signMethod !== 'hmacsha1') throw bad(`signMethod ${quote(params.signMethod ?? '')} is not hmacsha1`);
  if (!params.timestamp || !/^\d{1,16}$/.test(params.timestamp)) throw bad('timestamp is not a number of milliseconds');
  const id = params.authId ?? '';
  const secret = secretOf(id);
  if (secret === undefined) throw bad(`no AccessKey ${quote(id.slice(0, 64))}`);
  const want = Buffer.from(appPassword(secret, id, params.timestamp));
  const got = Buffer.from(password);
  if (want.length !== got.length || !timingSafeEqual(want, got)) throw bad('the signature does not match');
  return id;
}
