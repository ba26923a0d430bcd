// The lab's records, shaped after the platform's API fields so actions map them one to one.
import type { SignMethod } from '../shared/messages.js';
import type { FirmwareStatus, JobStatus, TaskStatus } from '../shared/platform-rules.js';

export type DeviceStatus = 'ONLINE' | 'OFFLINE' | 'UNACTIVE' | 'DISABLE';

export interface Device {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  iotId: string;
  status: DeviceStatus;
  /** Last version reported per module; `default` is the whole device's firmware. */
  moduleVersions: Record<string, string>;
  utcCreate: string;
  utcOnline?: string;
}

export interface Product {
  productKey: string;
  productName: string;
}

export interface FirmwareFile {
  name: string;
  size: number;
  /** The URL given at registration; the lab's own objects get a fresh signed URL per notice. */
  url: string;
  signValue: string;
  fileMd5?: string;
}

export interface Firmware {
  firmwareId: string;
  firmwareName: string;
  productKey: string;
  moduleName: string;
  destVersion: string;
  srcVersion?: string;
  type: 0 | 1;
  signMethod: SignMethod;
  firmwareSign: string;
  firmwareSize: number;
  firmwareUrl: string;
  multiFiles: FirmwareFile[];
  udi?: string;
  firmwareDesc?: string;
  status: FirmwareStatus;
  verifyProgress: number;
  utcCreate: string;
  utcModified: string;
}

export type JobType = 'VERIFY_FIRMWARE' | 'UPGRADE_FIRMWARE';

export interface Job {
  jobId: string;
  jobType: JobType;
  firmwareId: string;
  productKey: string;
  destVersion: string;
  srcVersion?: string;
  status: JobStatus;
  timeoutInMinutes?: number;
  needPush: boolean;
  needConfirm: boolean;
  downloadProtocol: 'HTTPS' | 'MQTT';
  tags: { Key: string; Value: string }[];
  targetDeviceNames: string[];
  utcCreate: string;
  utcStartTime: string;
  utcEndTime?: string;
}

export interface Task {
  taskId: string;
  jobId: string;
  firmwareId: string;
  productKey: string;
  deviceName: string;
  iotId: string;
  module: string;
  srcVersion: string;
  destVersion: string;
  status: TaskStatus;
  /** Percent 0–100 from the last non-negative step. */
  progress: number;
  taskDesc: string;
  timeoutInMinutes?: number;
  /** When the first progress arrived: the timeout counts from here (docs/platform.md, § Task lifecycle). */
  firstProgressAtMs?: number;
  utcCreate: string;
  utcModified: string;
}

export interface AccessKey {
  accessKeyId: string;
  accessKeySecret: string;
}

export interface LabState {
  version: 1;
  accessKeys: AccessKey[];
  products: Product[];
  devices: Device[];
  firmware: Firmware[];
  jobs: Job[];
  tasks: Task[];
  /** The file server's admin token: random, independent of any other secret, kept across restarts. */
  adminToken?: string;
  /** Monotonic counter behind every generated id, so ids stay unique across restarts. */
  nextId: number;
}

export function emptyState(): LabState {
  return { version: 1, accessKeys: [], products: [], devices: [], firmware: [], jobs: [], tasks: [], nextId: 1 };
}

export function utc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '.000Z');
}
