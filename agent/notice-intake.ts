// The accept step: read a notice in any of the platform's spellings (docs/platform.md) and refuse
// what is unsafe with a reason fit for the progress desc (step -1), reported for the module the
// notice names. Bounded before anything is kept: size before parsing, module before anything else,
// extData depth and size before it is stored or handed to the hook. Never throws.
import { OtaError, quote } from '../shared/errors.js';
import { noticeDataSchema, type NoticeData } from '../shared/messages.js';
import { DEFAULT_MODULE, LIMITS, VERSION_RULE } from '../shared/platform-rules.js';
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

/** extData is kept in the state file and handed to the hook as JSON: bounded in depth and size. */
export const EXT_DATA_MAX_DEPTH = 16;
export const EXT_DATA_MAX_BYTES = 64 * 1024;
/** The progress desc is kept under the platform's 128 characters. */
const REASON_MAX_CHARS = 120;

/** `payload` is a notice (`{id, data}`) or a firmware/get reply (`{id, code, data}`). */
export function takeNotice(payload: Buffer, rules: IntakeRules): Intake {
  // The platform's own MQTT payload limit; refused before any string or object is made of it.
  if (payload.length > LIMITS.mqttPayloadMaxBytes) return oversized(payload);
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
  // No module means the default module (the whole device); anything else is taken as named, never
  // replaced by another: a notice for a module this bench does not have must not install anywhere.
  const module = rawModule === undefined ? DEFAULT_MODULE : rawModule;
  if (typeof module !== 'string' || module.length < 1 || module.length > 64) {
    return { kind: 'garbage', reason: `"module" is ${quote(module, 40)}, not a module name of 1-64 characters` };
  }
  const refuse = (reason: string): Intake => ({ kind: 'refused', module, reason: reason.slice(0, REASON_MAX_CHARS) });
  if (!rules.modules.includes(module)) return refuse(`${shown('module', module)} is not on this device`);
  const ext = checkExtData((data as { extData?: unknown }).extData);
  if (ext) return refuse(ext);
  const parsed = noticeDataSchema.safeParse(data);
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    return refuse(`bad notice: ${field} ${message}`);
  }
  const d: NoticeData = parsed.data;
  if (!VERSION_RULE.pattern.test(d.version)) return refuse(`${shown('version', d.version)} is not a version: expected ${VERSION_RULE.describe}`);
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

/** A value quoted when it is plain ([A-Za-z0-9._-]); otherwise described without echoing it. */
function shown(what: string, value: string): string {
  if (/^[A-Za-z0-9._-]{1,64}$/.test(value)) return `${what} ${quote(value)}`;
  return `${what} (${value.length} characters, not shown: not only letters, digits, ".", "_", "-")`;
}

/**
 * A notice over the size limit is not parsed. The module it is for is looked up in its raw bytes
 * (`"module":"NAME"`, a plain name only); without one it is the default module's; a module key
 * with anything else in it leaves nobody to report to.
 */
function oversized(payload: Buffer): Intake {
  const reason = `notice of ${payload.length} bytes is over the ${LIMITS.mqttPayloadMaxBytes}-byte limit`;
  const at = payload.indexOf('"module"');
  if (at < 0) return { kind: 'refused', module: DEFAULT_MODULE, reason };
  const m = /^"module"\s*:\s*"([A-Za-z0-9_-]{1,64})"/.exec(payload.subarray(at, at + 100).toString('latin1'));
  return m?.[1] ? { kind: 'refused', module: m[1], reason } : { kind: 'garbage', reason };
}

/** The reason extData is refused, or undefined. Walked without recursion: depth is what is bounded. */
function checkExtData(ext: unknown): string | undefined {
  if (ext === undefined || ext === null || typeof ext !== 'object') return undefined;
  const stack: [unknown, number][] = [[ext, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (depth > EXT_DATA_MAX_DEPTH) return `extData is nested deeper than ${EXT_DATA_MAX_DEPTH} levels`;
    if (v && typeof v === 'object') for (const child of Object.values(v)) if (child && typeof child === 'object') stack.push([child, depth + 1]);
  }
  // Safe to serialise now that the depth is bounded; the payload limit bounds the work.
  const bytes = Buffer.byteLength(JSON.stringify(ext));
  if (bytes > EXT_DATA_MAX_BYTES) return `extData is ${bytes} bytes as JSON; at most ${EXT_DATA_MAX_BYTES}`;
  return undefined;
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
  if (u.protocol === 'http:') throw new OtaError('UNSAFE_NOTICE', 'download url is http, not https (allowInsecureHttp is off)');
  const scheme = u.protocol.replace(':', '').slice(0, 20);
  throw new OtaError('UNSAFE_NOTICE', `download url scheme is ${scheme}; expected https${rules.allowInsecureHttp ? ' or http' : ''}`);
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
