// `startLab` options: defaults in one frozen object, validated once, returned as a new object.
import { z } from 'zod';
import { INSTANCE_ID_RULE } from '../shared/platform-rules.js';
import { PRODUCT_KEY_RULE } from '../shared/platform-rules.js';
import { issueError } from '../shared/zod-issue.js';
import { LAB_DEVICES_MAX } from '../shared/lab-connection.js';
import { DEFAULT_NOTICE_STYLE } from './notice.js';

export const LAB_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  apiPort: 0,
  mqttPort: 0,
  filePort: 0,
  regionId: 'cn-shanghai',
  productKey: 'a1LabProd01',
  deviceCount: 5,
  devicePrefix: 'bench-',
  throttle: 'platform' as const,
  tls: false,
  urlTtlSec: 3600,
  unfinishedFilter: 'task-status' as const,
});

const noticeStyleSchema = z.object({
  md5Spelling: z.enum(['Md5', 'MD5', 'md5']),
  sha256Spelling: z.enum(['SHA256', 'Sha256', 'sha256']),
  idType: z.enum(['number', 'string']),
  module: z.enum(['omit-default', 'always']),
  files: z.enum(['auto', 'always']),
}).partial();

export const labOptionsSchema = z.object({
  host: z.string().min(1).default(LAB_DEFAULTS.host),
  apiPort: z.number().int().min(0).max(65535).default(LAB_DEFAULTS.apiPort),
  mqttPort: z.number().int().min(0).max(65535).default(LAB_DEFAULTS.mqttPort),
  filePort: z.number().int().min(0).max(65535).default(LAB_DEFAULTS.filePort),
  /** The host name written in download URLs (default: `host`); a name or address, no port. */
  fileHost: z.string().regex(/^(?=.{1,100}$)([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[?[0-9A-Fa-f:.]+\]?)$/, 'a host name or IP address without a port').optional(),
  regionId: z.string().min(1).default(LAB_DEFAULTS.regionId),
  productKey: z.string().regex(PRODUCT_KEY_RULE.pattern, PRODUCT_KEY_RULE.describe).default(LAB_DEFAULTS.productKey),
  deviceCount: z.number().int().min(0).max(LAB_DEVICES_MAX).default(LAB_DEFAULTS.deviceCount),
  devicePrefix: z.string().regex(/^[A-Za-z0-9_.:@-]{1,24}$/).default(LAB_DEFAULTS.devicePrefix),
  throttle: z.union([z.literal('platform'), z.literal('off'), z.record(z.string(), z.number().int().positive())]).default(LAB_DEFAULTS.throttle),
  tls: z.boolean().default(LAB_DEFAULTS.tls),
  urlTtlSec: z.number().int().positive().default(LAB_DEFAULTS.urlTtlSec),
  stateDir: z.string().min(1).optional(),
  /** Use an external broker (e.g. mosquitto) instead of the embedded one. */
  brokerUrl: z.string().regex(/^mqtts?:\/\//, 'an mqtt:// or mqtts:// URL').optional(),
  /** Where to write lab.json. */
  connectionFile: z.string().min(1).optional(),
  noticeStyle: noticeStyleSchema.default({}),
  accessKeyId: z.string().min(1).optional(),
  accessKeySecret: z.string().min(1).optional(),
  /** Run as an enterprise instance with this IotInstanceId: calls without it are refused. */
  instanceId: z.string().regex(INSTANCE_ID_RULE.pattern, INSTANCE_ID_RULE.describe).optional(),
  /** ListOTAUnfinishedTaskByDevice's status filter: the SDK model's `TaskStatus` (default), or the
   *  `TaskStatusList.N` form some references show, refusing `TaskStatus` (the platform's reading is unsure). */
  unfinishedFilter: z.enum(['task-status', 'task-status-list']).default(LAB_DEFAULTS.unfinishedFilter),
}).strict();

export type LabOptionsInput = z.input<typeof labOptionsSchema>;
export type LabOptions = Readonly<z.output<typeof labOptionsSchema>> & { noticeStyle: typeof DEFAULT_NOTICE_STYLE };

export function resolveLabOptions(input: LabOptionsInput): LabOptions {
  const parsed = labOptionsSchema.safeParse(input);
  if (!parsed.success) throw issueError('INVALID_OPTION', parsed.error, { what: 'lab options' });
  return Object.freeze({ ...parsed.data, noticeStyle: { ...DEFAULT_NOTICE_STYLE, ...parsed.data.noticeStyle } });
}
