// Test-side helpers for the lab: the official pop-core client, raw mqtt.js devices, and waits that
// resolve on events (never on sleeps).
import RPCClient from '@alicloud/pop-core';
import mqtt, { type MqttClient } from 'mqtt';
import { createHash } from 'node:crypto';
import { signDeviceCredentials, type DeviceSignMethod } from '../../shared/device-credentials.js';
import type { Lab } from '../../lab/start-lab.js';
import { FINAL_TASK_STATUSES, type TaskStatus } from '../../shared/platform-rules.js';
import { observeLab } from './observe-lab.js';
import type { AppMessage } from '../../shared/app-subscription.js';
import type { Task } from '../../lab/model.js';

export type PopError = Error & { code?: string; data?: { Code?: string; ErrorMessage?: string; Message?: string } };

export function popClient(lab: Lab, overrides: { accessKeyId?: string; accessKeySecret?: string } = {}) {
  const c = lab.connection;
  const client = new RPCClient({
    endpoint: c.apiEndpoint, apiVersion: '2018-01-20',
    accessKeyId: overrides.accessKeyId ?? c.accessKeyId, accessKeySecret: overrides.accessKeySecret ?? c.accessKeySecret,
  });
  return {
    /** POST, with RegionId, and with undefined values dropped (pop-core would send "undefined"). */
    call: async <T = Record<string, unknown>>(action: string, params: Record<string, unknown> = {}, method: 'POST' | 'GET' = 'POST'): Promise<T> => {
      const clean = Object.fromEntries(Object.entries({ RegionId: c.regionId, ...params }).filter(([, v]) => v !== undefined));
      return client.request<T>(action, clean, { method, timeout: 10_000 });
    },
  };
}

/** The platform code of a pop-core failure (throws if the call succeeded). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as PopError).data?.Code ?? (err as PopError).code ?? `non-platform error: ${(err as Error).message}`;
  }
  throw new Error('expected the call to fail');
}

export async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as PopError;
    return { code: e.data?.Code ?? e.code ?? '', message: e.data?.ErrorMessage ?? e.data?.Message ?? e.message };
  }
  throw new Error('expected the call to fail');
}

export interface TestDevice {
  client: MqttClient;
  name: string;
  messages: { topic: string; payload: Buffer }[];
  next(topicSuffix: string): Promise<Record<string, unknown>>;
  publish(kind: 'inform' | 'progress' | 'firmwareGet', body: unknown): Promise<void>;
}

export async function connectDevice(lab: Lab, deviceName: string, opts: { signMethod?: DeviceSignMethod; keepalive?: number; secret?: string } = {}): Promise<TestDevice> {
  const c = lab.connection;
  const secret = opts.secret ?? c.devices.find((d) => d.deviceName === deviceName)?.deviceSecret ?? 'unknown';
  const creds = signDeviceCredentials({ productKey: c.productKey, deviceName, deviceSecret: secret, signMethod: opts.signMethod ?? 'hmacsha256', secureMode: 3 });
  const client = await mqtt.connectAsync(c.mqttUrl, {
    clientId: creds.clientId, username: creds.username, password: creds.password, keepalive: opts.keepalive ?? 60,
    protocolVersion: 4, reconnectPeriod: 0, clean: true,
  });
  return wrapDevice(client, lab, deviceName);
}

export function wrapDevice(client: MqttClient, lab: Lab, deviceName: string): TestDevice {
  const pk = lab.connection.productKey;
  const messages: { topic: string; payload: Buffer }[] = [];
  const waiters: { suffix: string; resolve: (v: Record<string, unknown>) => void }[] = [];
  let seen = 0;
  client.on('message', (topic, payload) => {
    messages.push({ topic, payload });
    const w = waiters.findIndex((x) => topic.endsWith(x.suffix));
    if (w >= 0) {
      const [waiter] = waiters.splice(w, 1);
      seen = messages.length;
      waiter?.resolve(JSON.parse(payload.toString()) as Record<string, unknown>);
    }
  });
  const topics = {
    inform: `/ota/device/inform/${pk}/${deviceName}`,
    progress: `/ota/device/progress/${pk}/${deviceName}`,
    firmwareGet: `/sys/${pk}/${deviceName}/thing/ota/firmware/get`,
  };
  return {
    client, name: deviceName, messages,
    next(suffix) {
      const already = messages.slice(seen).find((m) => m.topic.endsWith(suffix));
      if (already) {
        seen = messages.indexOf(already) + 1;
        return Promise.resolve(JSON.parse(already.payload.toString()) as Record<string, unknown>);
      }
      return new Promise((resolve) => waiters.push({ suffix, resolve }));
    },
    async publish(kind, body) {
      await client.publishAsync(topics[kind], typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
    },
  };
}

/** Resolves when the device's task (the latest for that device) reaches `status`, as an application
 *  observes it: final statuses from the OTA upgrade notice, IN_PROGRESS from the forwarded progress.
 *  QUEUED, NOTIFIED and CONFIRM are forwarded by no platform message: those are read from the task list. */
export async function taskReaches(lab: Lab, deviceName: string, status: TaskStatus): Promise<Task> {
  const obs = await observeLab(lab);
  const current = () => [...lab.store.state.tasks].reverse().find((t) => t.deviceName === deviceName);
  const now = current();
  if (FINAL_TASK_STATUSES.has(status)) {
    // The notice, not the task list: what the device sent before the end has then reached the observer too.
    const told = (m: AppMessage) => m.kind === 'upgrade' && m.deviceName === deviceName && m.body.status === status;
    if (now?.status === status && obs.messages.some((m) => told(m) && m.kind === 'upgrade' && m.body.taskId === now.taskId)) return now;
    // An observer that logged in after the end never gets the notice: the task list says it then.
    const late = now?.status === status ? new Promise<void>((r) => { setTimeout(r, 2000).unref(); }) : new Promise<void>(() => undefined);
    await Promise.race([obs.next(told), late]);
    return current() as Task;
  }
  if (now?.status === status) return now;
  if (status === 'IN_PROGRESS') {
    await obs.next((m) => m.kind === 'progress' && m.deviceName === deviceName && m.body.taskId !== undefined && m.body.step >= 0);
  } else {
    while (current()?.status !== status) await new Promise((r) => setTimeout(r, 20));
  }
  return current() as Task;
}

/** Resolves once the device is in `status`, from the forwarded device status notice. */
export async function deviceStatus(lab: Lab, deviceName: string, status: 'ONLINE' | 'OFFLINE' = 'ONLINE'): Promise<void> {
  const obs = await observeLab(lab);
  if (lab.store.state.devices.find((d) => d.deviceName === deviceName)?.status === status) return;
  await obs.next((m) => m.kind === 'status' && m.deviceName === deviceName && m.body.status === status.toLowerCase());
}

export async function addFirmware(lab: Lab, opts: { content?: Buffer; version?: string; signMethod?: 'MD5' | 'SHA256'; module?: string; name?: string; needToVerify?: boolean } = {}): Promise<{ firmwareId: string; content: Buffer }> {
  const content = opts.content ?? Buffer.from(`firmware ${opts.version ?? '2.0.0'} `.repeat(1000));
  const stored = await lab.putFirmwareFile('fw.bin', content);
  const signMethod = opts.signMethod ?? 'SHA256';
  const sign = createHash(signMethod === 'MD5' ? 'md5' : 'sha256').update(content).digest('hex');
  const res = await popClient(lab).call<{ Data: { FirmwareId: string } }>('CreateOTAFirmware', {
    ProductKey: lab.connection.productKey, FirmwareName: opts.name ?? `fw-${Math.random().toString(36).slice(2, 10)}`,
    DestVersion: opts.version ?? '2.0.0', FirmwareUrl: stored.url, FirmwareSign: sign, SignMethod: signMethod,
    FirmwareSize: content.length, ModuleName: opts.module, NeedToVerify: opts.needToVerify,
  });
  return { firmwareId: res.Data.FirmwareId, content };
}

export async function createVerifyJob(lab: Lab, firmwareId: string, devices: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const res = await popClient(lab).call<{ Data: { JobId: string } }>('CreateOTAVerifyJob', {
    ProductKey: lab.connection.productKey, FirmwareId: firmwareId, TargetDeviceName: devices, ...extra,
  });
  return res.Data.JobId;
}
