// The object store's POST policy, as GenerateOTAUploadURL hands it out and PostObject checks it
// (docs/platform.md, "Firmware upload"): a base64 JSON document `{"expiration": ISO time,
// "conditions": [...]}` signed with base64 HMAC-SHA1 of the base64 text under the store's secret.
// The lab issues one-minute policies bound to one exact key and 0–1,000 MB, and checks every
// condition form it issues (`content-length-range`, `eq`, `starts-with`, `{"field": value}`).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { UrlSignerKey } from './url-signing.js';

/** A refusal in the object store's words: HTTP status, XML `Code`, `Message`. */
export interface StoreRefusal {
  status: number;
  code: string;
  message: string;
}

export interface ParsedPolicy {
  expirationMs: number;
  /** [field (lower case, without `$`), operator, value]; the size range is kept apart. */
  matches: { field: string; op: 'eq' | 'starts-with'; value: string }[];
  minBytes: number;
  maxBytes: number;
}

/** The largest policy document the lab reads (its own are ~250 bytes). */
export const POLICY_MAX_CHARS = 8 * 1024;

export function policySignature(secret: string, policyBase64: string): string {
  return createHmac('sha1', secret).update(policyBase64).digest('base64');
}

export function issuePolicy(key: UrlSignerKey, objectKey: string, nowMs: number, ttlMs: number, maxBytes: number): { policy: string; signature: string; expiresAtMs: number } {
  const expiresAtMs = nowMs + ttlMs;
  const doc = { expiration: new Date(expiresAtMs).toISOString(), conditions: [['content-length-range', 0, maxBytes], ['eq', '$key', objectKey]] };
  const policy = Buffer.from(JSON.stringify(doc)).toString('base64');
  return { policy, signature: policySignature(key.secret, policy), expiresAtMs };
}

const refuse = (status: number, code: string, message: string): StoreRefusal => ({ status, code, message });
const badPolicy = (why: string) => refuse(400, 'InvalidPolicyDocument', `Invalid Policy: ${why}`);

/** Signature first (a forged policy is not read further), then the document's form. */
export function verifyPolicy(key: UrlSignerKey, fields: ReadonlyMap<string, string>): ParsedPolicy | StoreRefusal {
  const policy = fields.get('policy');
  const accessKeyId = fields.get('ossaccesskeyid');
  const signature = fields.get('signature');
  if (!policy || !accessKeyId || !signature) {
    const missing = [!policy && 'policy', !accessKeyId && 'OSSAccessKeyId', !signature && 'Signature'].filter(Boolean).join(', ');
    return refuse(403, 'AccessDenied', `Anonymous access is forbidden for this operation: the form lacks ${missing}.`);
  }
  if (accessKeyId !== key.accessKeyId) return refuse(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.');
  const want = Buffer.from(policySignature(key.secret, policy));
  const given = Buffer.from(signature);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    return refuse(403, 'AccessDenied', 'The request signature we calculated does not match the signature you provided.');
  }
  return parsePolicy(policy);
}

export function parsePolicy(policyBase64: string): ParsedPolicy | StoreRefusal {
  if (policyBase64.length > POLICY_MAX_CHARS || !/^[A-Za-z0-9+/]+={0,2}$/.test(policyBase64)) return badPolicy('the policy is not base64 of at most 8 KiB');
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(policyBase64, 'base64').toString('utf8'));
  } catch {
    return badPolicy('the policy is not JSON');
  }
  if (!doc || typeof doc !== 'object') return badPolicy('the policy is not a JSON object');
  const { expiration, conditions } = doc as { expiration?: unknown; conditions?: unknown };
  const expirationMs = typeof expiration === 'string' ? Date.parse(expiration) : NaN;
  if (!Number.isFinite(expirationMs)) return badPolicy('expiration must be an ISO 8601 time');
  if (!Array.isArray(conditions) || conditions.length > 32) return badPolicy('conditions must be a list of at most 32');
  const out: ParsedPolicy = { expirationMs, matches: [], minBytes: 0, maxBytes: Number.MAX_SAFE_INTEGER };
  for (const c of conditions as unknown[]) {
    const [op, a, b] = Array.isArray(c) && c.length === 3 ? (c as [unknown, unknown, unknown]) : [];
    if (op === 'content-length-range' && typeof a === 'number' && typeof b === 'number' && Number.isSafeInteger(a) && Number.isSafeInteger(b) && 0 <= a && a <= b) {
      out.minBytes = a;
      out.maxBytes = b;
    } else if ((op === 'eq' || op === 'starts-with') && typeof a === 'string' && a.startsWith('$') && typeof b === 'string') {
      out.matches.push({ field: a.slice(1).toLowerCase(), op, value: b });
    } else if (c && typeof c === 'object' && !Array.isArray(c) && Object.keys(c).length === 1) {
      const [field, value] = Object.entries(c as Record<string, unknown>)[0] as [string, unknown];
      if (typeof value !== 'string') return badPolicy(`condition ${JSON.stringify(c).slice(0, 80)} must have a string value`);
      out.matches.push({ field: field.toLowerCase(), op: 'eq', value });
    } else {
      return badPolicy(`condition ${JSON.stringify(c)?.slice(0, 80)} is not one of content-length-range, eq, starts-with`);
    }
  }
  return out;
}

/** Expiry and the field conditions, checked when the file part arrives (the size while it streams). */
export function checkConditions(p: ParsedPolicy, fields: ReadonlyMap<string, string>, nowMs: number, bucket: string): StoreRefusal | undefined {
  if (p.expirationMs <= nowMs) return refuse(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.');
  for (const m of p.matches) {
    // The bucket is not a form field: it is the host the form is posted to.
    const have = m.field === 'bucket' ? bucket : fields.get(m.field) ?? '';
    const ok = m.op === 'eq' ? have === m.value : have.startsWith(m.value);
    if (!ok) return refuse(403, 'AccessDenied', `Invalid according to Policy: Policy Condition failed: ["${m.op}", "$${m.field}", ${JSON.stringify(m.value)}]`);
  }
  return undefined;
}
