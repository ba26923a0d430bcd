// Secrets must never reach a log line or an error message. Two layers: known field names are
// redacted by pino, and every finished line is scrubbed of URL signatures and of any secret value
// registered with the logger (so a secret that slipped into free text is still caught).

const URL_SECRET_PARAMS = /\b(Signature|security-token|SecurityToken|OSSAccessKeyId|AccessKeyId|x-oss-signature)=([^&\s"'\\]+)/gi;

export const REDACTED = '[redacted]';

/** Remove signature and token query values from any text that may contain a URL. */
export function redactUrlSecrets(text: string): string {
  return text.replace(URL_SECRET_PARAMS, (_m, name: string) => `${name}=${REDACTED}`);
}

export function redactValues(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) {
    if (s.length >= 4) out = out.split(s).join(REDACTED);
  }
  return out;
}

/** Field names whose values are secrets wherever they appear in a log object. */
export const SECRET_FIELDS: readonly string[] = Object.freeze([
  'deviceSecret', 'DeviceSecret', 'password', 'accessKeySecret', 'AccessKeySecret', 'securityToken', 'SecurityToken', 'secret',
]);
