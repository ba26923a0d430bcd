// The accept step: read a notice in any of the platform's spellings (docs/platform.md, § Upgrade notice) and refuse
// what is unsafe with a reason fit for the progress desc (step -1). Never throws anything else.
import { OtaError, quote } from '../shared/errors.js';
import { noticeDataSchema, type NoticeData } from '../shared/messages.js';
import { DEFAULT_MODULE, MODULE_NAME_RULE } from '../shared/platform-rules.js';
import { firstIssue } from '../shared/zod-issue.js';
import type { PlannedFile, UpgradePlan } from './upgrade-state.js';

export type Intake =
  | { kind: 'plan'; plan: Omit<UpgradePlan, 'files'> & { files: Omit<PlannedFile, 'partPath'>[] } }
  | { kind: 'refused'; module: string; reason: string }
  | { kind: 'empty' }
  | { kind: 'garbage'; reason: string };

export interface IntakeRules {
  allowInsecureHttp: boolean;
  modules: readonly string[];
}

/** `payload` is a notice (`{id, data}`) or a firmware/get reply (`{id, code, data}`). */
export function takeNotice(payload: Buffer, rules: IntakeRules): Intake {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return { kind: 'garbage', reason: 'not JSON' };
  }
  if (!json || typeof json !== 'object') return { kind: 'garbage', reason: 'not a JSON object' };
  const data = (json as { data?: unknown }).data;
  if (data === undefined || data === null || (typeof data === 'object' && Object.keys(data).length === 0)) return { kind: 'empty' };
  if (typeof data !== 'object' || Array.isArray(data)) return { kind: 'garbage', reason: '"data" is not an object' };
  const rawModule = (data as { module?: unknown }).module;
  const module = typeof rawModule === 'string' && MODULE_NAME_RULE.pattern.test(rawModule) ? rawModule : DEFAULT_MODULE;
  const refuse = (reason: string): Intake => ({ kind: 'refused', module, reason: reason.slice(0, 120) });
  const parsed = noticeDataSchema.safeParse(data);
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    return refuse(`bad notice: ${field} ${message}`);
  }
  const d: NoticeData = parsed.data;
  if (!rules.modules.includes(module)) return refuse(`module ${quote(module)} is not on this device`);
  if (d.dProtocol && d.dProtocol.toLowerCase() === 'mqtt') return refuse('MQTT download is not supported; use HTTPS');
  const digestLen = d.signMethod === 'MD5' ? 32 : 64;
  let files: Omit<PlannedFile, 'partPath'>[];
  try {
    files = d.files
      ? d.files.map((f) => ({ name: checkName(f.fileName), url: checkUrl(f.fileUrl, rules), size: f.fileSize, sign: checkDigest(f.fileSign ?? f.fileMd5, digestLen, 'fileSign') }))
      : [{ name: 'firmware.bin', url: checkUrl(d.url, rules), size: d.size, sign: checkDigest(d.sign ?? d.md5, digestLen, 'sign') }];
  } catch (err) {
    return refuse((err as Error).message);
  }
  return {
    kind: 'plan',
    plan: {
      module, version: d.version, signMethod: d.signMethod, size: d.size, sign: files[0]?.sign ?? '',
      extData: d.extData ?? {}, files,
    },
  };
}

function checkUrl(url: string | undefined, rules: IntakeRules): string {
  if (!url) throw new OtaError('UNSAFE_NOTICE', 'no download url');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OtaError('UNSAFE_NOTICE', 'download url is not a URL');
  }
  if (u.protocol === 'https:') return url;
  if (u.protocol === 'http:' && rules.allowInsecureHttp) return url;
  throw new OtaError('UNSAFE_NOTICE', `download url is ${u.protocol.replace(':', '')}, not https (allowInsecureHttp is off)`);
}

function checkDigest(sign: string | undefined, len: number, field: string): string {
  if (!sign) throw new OtaError('UNSAFE_NOTICE', `no ${field} digest`);
  if (sign.length !== len) throw new OtaError('UNSAFE_NOTICE', `${field} has ${sign.length} hex characters; the sign method needs ${len}`);
  return sign.toLowerCase();
}

function checkName(name: string): string {
  if (/[/\\]/.test(name) || name === '.' || name === '..' || name.includes('\0')) throw new OtaError('UNSAFE_NOTICE', `file name ${quote(name, 40)} has a path in it`);
  return name;
}
