// `ota-lab start`: run the lab until SIGINT/SIGTERM, print where everything is, write lab.json.
import { resolve } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { untilSignal, UsageError } from '../../shared/cli-support.js';
import { createLogger } from '../../shared/logger.js';
import { startLab, type Lab } from '../start-lab.js';
import type { LabOptionsInput } from '../lab-options.js';

export interface StartArgs {
  devices: number;
  productKey: string;
  stateDir?: string;
  broker?: string;
  tls: boolean;
  connectionFile: string;
  throttle: string;
  apiPort: number;
  mqttPort: number;
  filePort: number;
  fileHost?: string;
  logLevel: string;
  /** json, pretty, or undefined: pretty on a terminal. */
  logFormat?: string;
  signMethodSpelling?: string;
  idType?: string;
  instanceId?: string;
  unfinishedFilter?: string;
}

export function startOptionsFrom(a: StartArgs): LabOptionsInput {
  const spelling = a.signMethodSpelling;
  return {
    deviceCount: a.devices, productKey: a.productKey, tls: a.tls, connectionFile: resolve(a.connectionFile),
    throttle: a.throttle === 'off' ? 'off' : 'platform', apiPort: a.apiPort, mqttPort: a.mqttPort, filePort: a.filePort,
    ...(a.stateDir ? { stateDir: resolve(a.stateDir) } : {}),
    ...(a.broker ? { brokerUrl: a.broker } : {}),
    ...(a.fileHost ? { fileHost: a.fileHost } : {}),
    ...(a.instanceId ? { instanceId: a.instanceId } : {}),
    ...(a.unfinishedFilter === 'task-status-list' ? { unfinishedFilter: 'task-status-list' as const } : {}),
    noticeStyle: {
      ...(spelling === 'Md5' || spelling === 'MD5' || spelling === 'md5' ? { md5Spelling: spelling } : {}),
      ...(spelling === 'SHA256' || spelling === 'Sha256' || spelling === 'sha256' ? { sha256Spelling: spelling } : {}),
      ...(a.idType === 'string' || a.idType === 'number' ? { idType: a.idType } : {}),
    },
  };
}

export function describeLab(lab: Lab, connectionFile: string): string {
  const c = lab.connection;
  return [
    'ota-lab is running',
    `  OpenAPI     ${c.apiEndpoint}  (AccessKeyId ${c.accessKeyId}; the secret is in the connection file)`,
    `  MQTT        ${c.mqttUrl}${lab.broker ? '' : '  (external broker)'}  product ${c.productKey}, ${c.devices.length} device${c.devices.length === 1 ? '' : 's'}: ${c.devices.map((d) => d.deviceName).join(', ')}`,
    `  Firmware    ${c.fileServer}`,
    ...(c.iotInstanceId ? [`  Instance    ${c.iotInstanceId}  (pass IotInstanceId with every API call)`] : []),
    ...(c.caFile ? [`  CA          ${c.caFile}`] : []),
    `  Connection  ${connectionFile}  (use --lab ${connectionFile} with ota-agent and ota-verify)`,
    'Press Ctrl-C to stop.',
  ].join('\n');
}

const STATE_DIR_REFUSALS: Readonly<Record<string, string>> = {
  EEXIST: 'is a file, not a directory', ENOTDIR: 'is inside a file, not a directory',
  EACCES: 'cannot be created (permission denied)', EPERM: 'cannot be created (permission denied)', EROFS: 'cannot be created (read-only file system)',
};

/** --state-dir exists as a directory (made if missing), or a usage error in words, not Node's errno text. */
async function stateDirReady(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new UsageError(`--state-dir ${dir} ${STATE_DIR_REFUSALS[code] ?? `cannot be used (${code || 'unknown error'})`}: expected a directory the lab may write (made if missing)`);
  }
}

export async function runStart(a: StartArgs): Promise<number> {
  const options = startOptionsFrom(a);
  const log = createLogger({ name: 'ota-lab', level: a.logLevel, ...(a.logFormat ? { format: a.logFormat } : {}) });
  // Listen for Ctrl-C before anything starts, so a signal during start-up still stops cleanly.
  const stopped = untilSignal();
  if (options.stateDir) await stateDirReady(options.stateDir);
  const lab = await startLab(options, { log });
  process.stdout.write(`${describeLab(lab, options.connectionFile ?? '')}\n`);
  await stopped;
  await lab.close();
  process.stdout.write('ota-lab stopped\n');
  return 0;
}
