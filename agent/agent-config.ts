// The agent's configuration: a JSON file, overridden by flags and environment, validated once. The
// device secret comes from OTA_DEVICE_SECRET or a file, never from the command line.
import { resolve, dirname } from 'node:path';
import { z } from 'zod';
import { DEVICE_SIGN_METHODS } from '../shared/device-credentials.js';
import { OtaError, errorMessage, isOtaError } from '../shared/errors.js';
import { readUserFile } from '../shared/user-file.js';
import { readLabConnection, type LabConnection } from '../shared/lab-connection.js';
import { DEFAULT_MODULE, DEVICE_NAME_RULE, INSTANCE_ID_RULE, LIMITS, MODULE_NAME_RULE, PRODUCT_KEY_RULE, VERSION_RULE } from '../shared/platform-rules.js';
import { issueError } from '../shared/zod-issue.js';

/** The variable the device secret is read from. */
export const DEVICE_SECRET_ENV = 'OTA_DEVICE_SECRET';
/** Variables that carry a secret: the agent's own, and the cloud credentials a bench shell may hold.
 *  None of them reaches the install hook or the version command. */
export const SECRET_ENV_VARS: readonly string[] = Object.freeze([
  DEVICE_SECRET_ENV, 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALIBABA_CLOUD_SECURITY_TOKEN',
]);

const moduleSchema = z.object({
  name: z.string().regex(MODULE_NAME_RULE.pattern, MODULE_NAME_RULE.describe).default(DEFAULT_MODULE),
  /** The version the device runs now (ignored when versionCommand is set). */
  version: z.string().regex(VERSION_RULE.pattern, VERSION_RULE.describe).optional(),
  /** A shell command that prints the module's current version. */
  versionCommand: z.string().min(1).optional(),
  // --- self-test and rollback (agent/health-check.ts, agent/rollback.ts, agent/recovery.ts) ---
  /** Run after the version read-back; exit 0 = healthy. The destination version is informed only after it passes. */
  healthCommand: z.string().min(1).max(4096).optional(),
  healthTimeoutSec: z.number().positive().max(86_400).default(60),
  /** A soak: keep running the health command for this long, every healthIntervalSec; every run must pass. 0 = one run. */
  healthWindowSec: z.number().min(0).max(86_400).default(0),
  healthIntervalSec: z.number().min(0.1).max(86_400).default(10),
  /** Run when install, version read-back or health fails; must be idempotent (a power cut runs it again). */
  rollbackCommand: z.string().min(1).max(4096).optional(),
  rollbackTimeoutSec: z.number().positive().max(86_400).default(600),
  /** Run once at agent start when a rollback failed or was cut short, or the version cannot be read. */
  recoverCommand: z.string().min(1).max(4096).optional(),
  // --- end self-test and rollback ---
}).strict().refine((m) => m.version !== undefined || m.versionCommand !== undefined, 'needs "version" or "versionCommand"')
  .refine((m) => m.healthWindowSec === 0 || m.healthIntervalSec <= m.healthWindowSec, { message: 'must not be longer than healthWindowSec', path: ['healthIntervalSec'] });

export const agentConfigSchema = z.object({
  productKey: z.string().regex(PRODUCT_KEY_RULE.pattern, PRODUCT_KEY_RULE.describe),
  // RegisterDevice: 4–32 characters (docs/platform.md § Name rules and limits).
  deviceName: z.string().regex(DEVICE_NAME_RULE.pattern, DEVICE_NAME_RULE.describe),
  deviceSecret: z.string().min(1, 'a device secret from OTA_DEVICE_SECRET or deviceSecretFile'),
  /** Full MQTT URL (the lab's), or the parts below. */
  mqttUrl: z.string().regex(/^mqtts?:\/\//, 'an mqtt:// or mqtts:// URL').optional(),
  region: z.string().regex(/^[a-z0-9-]+$/).optional(),
  instanceId: z.string().regex(INSTANCE_ID_RULE.pattern, INSTANCE_ID_RULE.describe).optional(),
  mqttHost: z.string().min(1).optional(),
  mqttPort: z.number().int().min(1).max(65535).optional(),
  tls: z.boolean().default(true),
  caFile: z.string().optional(),
  signMethod: z.enum(DEVICE_SIGN_METHODS).default('hmacsha256'),
  keepaliveSec: z.number().int().min(LIMITS.keepaliveSecMin).max(LIMITS.keepaliveSecMax).default(120),
  modules: z.array(moduleSchema).min(1).prefault([{ name: 'default', version: '0.0.0' }]),
  installCommand: z.string().min(1).optional(),
  simulateInstall: z.boolean().default(false),
  /** With simulateInstall: make the simulated self-test fail ('health'), or it and the simulated rollback ('rollback'). */
  simulateFailure: z.enum(['health', 'rollback']).optional(),
  installTimeoutSec: z.number().int().positive().default(600),
  /** A version command running longer is failed and its process group killed. */
  versionTimeoutSec: z.number().int().positive().max(600).default(30),
  workDir: z.string().min(1).default('./ota-work'),
  downloadRetries: z.number().int().min(0).max(100).default(5),
  downloadTimeoutMs: z.number().int().positive().default(30_000),
  /** The whole download (every file, every retry, across restarts) must end within this; at most 7 days. */
  downloadDeadlineSec: z.number().int().positive().max(7 * 24 * 3600).default(3600),
  /** An attempt that averages less than this over a window of downloadMinRateWindowSec is cut and counts as a failed attempt (0: off). */
  downloadMinBytesPerSec: z.number().int().min(0).default(1024),
  downloadMinRateWindowSec: z.number().int().positive().max(3600).default(60),
  backoffBaseMs: z.number().int().positive().default(500),
  backoffMaxMs: z.number().int().positive().default(30_000),
  reconnectBaseMs: z.number().int().positive().default(1000),
  reconnectMaxMs: z.number().int().positive().default(60_000),
  /** PEM public key (RSA or EC P-256) whose detached signature each firmware must carry. */
  publicKeyFile: z.string().optional(),
  /** The extData key holding the base64 signature. */
  signatureKey: z.string().min(1).default('signature'),
  allowInsecureHttp: z.boolean().default(false),
  progressMinStep: z.number().int().min(1).max(100).default(5),
  progressMinIntervalMs: z.number().int().min(0).default(1000),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Unset: one human line per entry on a terminal, JSON lines otherwise (a file, journald). */
  logFormat: z.enum(['json', 'pretty']).optional(),
}).strict().refine((c) => c.installCommand !== undefined || c.simulateInstall, { message: 'needs "installCommand" (or simulateInstall for the lab)', path: ['installCommand'] });

export type AgentConfig = Readonly<z.output<typeof agentConfigSchema>>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** The fields a config file may hold, for "did you mean": deviceSecret is set from the environment or
 *  deviceSecretFile, so a file never names it. */
const FILE_FIELDS: readonly string[] = Object.freeze([
  ...Object.keys(agentConfigSchema.shape).filter((k) => k !== 'deviceSecret'), 'deviceSecretFile',
]);
const MODULE_FIELDS: readonly string[] = Object.freeze(Object.keys(moduleSchema.shape));

function knownFieldsAt(field: string): readonly string[] | undefined {
  if (field === '') return FILE_FIELDS;
  return /^modules\.\d+$/.test(field) ? MODULE_FIELDS : undefined;
}

export function parseAgentConfig(input: unknown, source: string): AgentConfig {
  const parsed = agentConfigSchema.safeParse(input);
  // No `input`: the config may hold the device secret, so the refusal never quotes a value from it.
  if (!parsed.success) throw issueError('INVALID_CONFIG', parsed.error, { what: source, knownFieldsAt });
  return Object.freeze(parsed.data);
}

/** The broker URL: explicit, or from the instance id or region as the platform names endpoints. */
export function mqttUrlOf(c: AgentConfig): string {
  if (c.mqttUrl) return c.mqttUrl;
  const host = c.mqttHost ?? (c.instanceId ? `${c.instanceId}.mqtt.iothub.aliyuncs.com` : c.region ? `${c.productKey}.iot-as-mqtt.${c.region}.aliyuncs.com` : undefined);
  if (!host) throw new OtaError('INVALID_CONFIG', 'no MQTT endpoint: set mqttUrl, mqttHost, instanceId or region', { expected: 'one of mqttUrl, mqttHost, instanceId, region', details: { field: 'mqttHost' } });
  return `${c.tls ? 'mqtts' : 'mqtt'}://${host}:${c.mqttPort ?? (c.tls ? 8883 : 1883)}`;
}

export interface ConfigSources {
  configFile?: string;
  labFile?: string;
  /** labFile's content when the caller has already read it (it is then not read again). */
  lab?: LabConnection;
  device?: string;
  /** Flags that override the file. */
  overrides?: Partial<AgentConfigInput>;
  env?: NodeJS.ProcessEnv;
}

/** Every field of a config fits in a few KiB; a larger file is not a config (and is not read whole). */
const CONFIG_FILE_MAX_BYTES = 1024 * 1024;

const SECRET_FILE_RULES = Object.freeze({
  what: 'deviceSecretFile', code: 'INVALID_CONFIG', maxBytes: 4096,
  expected: 'a file holding only the device secret, readable only by the agent (chmod 600); or set OTA_DEVICE_SECRET',
});

/** Resolve the configuration once: file (or lab connection), then flags, then the secret. */
export async function loadAgentConfig(s: ConfigSources): Promise<AgentConfig> {
  const env = s.env ?? process.env;
  let base: Record<string, unknown> = {};
  let source = 'flags';
  if (s.configFile) {
    source = s.configFile;
    const text = await readUserFile(s.configFile, { what: 'config file', code: 'INVALID_CONFIG', expected: 'a readable JSON file', maxBytes: CONFIG_FILE_MAX_BYTES });
    try {
      base = JSON.parse(text) as Record<string, unknown>;
    } catch (cause) {
      throw new OtaError('INVALID_CONFIG', `config file ${s.configFile} is not JSON: ${errorMessage(cause)}`, { cause, expected: 'a JSON object' });
    }
    if (!base || typeof base !== 'object' || Array.isArray(base)) throw new OtaError('INVALID_CONFIG', `config file ${s.configFile} is not a JSON object`, { expected: 'a JSON object' });
    // A config file is often world-readable and copied around (backups, tickets): the secret lives
    // apart from it, in a 0600 file or the environment. Refused, never quoted.
    if ('deviceSecret' in base) {
      throw new OtaError('INVALID_CONFIG', `${s.configFile}: field deviceSecret is not read from a config file`, {
        expected: 'the secret in OTA_DEVICE_SECRET, or in a file named by deviceSecretFile (readable only by the agent: chmod 600)', details: { field: 'deviceSecret' },
      });
    }
    // Relative paths in the file are relative to the file.
    for (const k of ['workDir', 'caFile', 'publicKeyFile', 'deviceSecretFile']) {
      if (typeof base[k] === 'string') base[k] = resolve(dirname(s.configFile), base[k]);
    }
  } else if (s.labFile) {
    source = s.labFile;
    const lab = s.lab ?? await readLabConnection(s.labFile);
    const name = s.device ?? '';
    const dev = lab.devices.find((d) => d.deviceName === name);
    if (!dev) {
      throw new OtaError('INVALID_CONFIG', `device ${JSON.stringify(name)} is not in ${s.labFile}`, { expected: `one of ${lab.devices.map((d) => d.deviceName).join(', ')}`, details: { field: 'device' } });
    }
    base = {
      productKey: lab.productKey, deviceName: dev.deviceName, deviceSecret: dev.deviceSecret, mqttUrl: lab.mqttUrl,
      tls: lab.mqttUrl.startsWith('mqtts'), ...(lab.caFile ? { caFile: lab.caFile } : {}),
      // The lab serves firmware over plain HTTP on loopback only.
      allowInsecureHttp: lab.allowInsecureHttp, simulateInstall: true, workDir: `./ota-work/${dev.deviceName}`,
    };
  }
  const merged: Record<string, unknown> = { ...base, ...dropUndefined(s.overrides ?? {}) };
  const secretFile = merged.deviceSecretFile;
  delete merged.deviceSecretFile;
  const fromEnv = env[DEVICE_SECRET_ENV];
  // OTA_DEVICE_SECRET wins, so the file is not read (nor required to exist) when it is set.
  if (typeof secretFile === 'string' && merged.deviceSecret === undefined && !fromEnv) {
    try {
      merged.deviceSecret = (await readUserFile(secretFile, SECRET_FILE_RULES)).trim();
    } catch (err) {
      // The refusal names the file and why, never its content.
      if (isOtaError(err)) err.details.field = 'deviceSecretFile';
      throw err;
    }
  }
  if (fromEnv) merged.deviceSecret = fromEnv;
  merged.deviceSecret ??= '';
  return parseAgentConfig(merged, source);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
