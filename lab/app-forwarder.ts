// The lab's server-side subscription (docs/platform.md, § Server-side subscription): what the engine
// does to devices and tasks becomes the platform's forwarded messages, published (through the
// engine's own MQTT link, so over the embedded broker and an external one alike) on the forwarded
// topics, where an application login reads them.
import type { EventEmitter } from 'node:events';
import {
  APP_TOPICS, type DeviceStatusNotice, type OtaJobStatusNotice, type OtaProgressNotice, type OtaUpgradeNotice, type OtaVersionNotice,
} from '../shared/app-subscription.js';
import type { Clock } from '../shared/clock.js';
import { FINAL_TASK_STATUSES } from '../shared/platform-rules.js';
import type { DeviceId } from '../shared/topics.js';
import type { Device, Job, Task } from './model.js';

export interface ForwarderDeps {
  /** The engine's internal events ('task', 'job', 'device', 'inform', 'progress'). */
  events: EventEmitter;
  clock: Clock;
  publish: (topic: string, payload: Record<string, unknown>) => void;
  device: (id: DeviceId) => Device | undefined;
  activeTask: (id: DeviceId, module: string) => Task | undefined;
}

/** Starts forwarding; the returned function stops it. */
export function forwardToApplications(d: ForwarderDeps): () => void {
  // A task's final status is announced once per time it is reached (a re-upgraded task can end again).
  const announced = new Map<string, string>();
  const iotIdOf = (id: DeviceId) => d.device(id)?.iotId ?? '';

  const onDevice = (dev: Device) => {
    const at = new Date(d.clock.now());
    const body: DeviceStatusNotice = {
      status: dev.status === 'ONLINE' ? 'online' : 'offline', iotId: dev.iotId, productKey: dev.productKey, deviceName: dev.deviceName,
      time: at.toISOString().replace('T', ' ').replace('Z', ''), utcTime: at.toISOString(),
    };
    d.publish(APP_TOPICS.status(dev), { ...body });
  };
  const onTask = (t: Task) => {
    if (!FINAL_TASK_STATUSES.has(t.status)) {
      announced.delete(t.taskId);
      return;
    }
    if (announced.get(t.taskId) === t.status) return;
    announced.set(t.taskId, t.status);
    const body: OtaUpgradeNotice = {
      iotId: t.iotId, productKey: t.productKey, deviceName: t.deviceName, moduleName: t.module, status: t.status,
      messageCreateTime: d.clock.now(), srcVersion: t.srcVersion, destVersion: t.destVersion, desc: t.taskDesc, jobId: t.jobId, taskId: t.taskId,
    };
    d.publish(APP_TOPICS.upgrade(t), { ...body });
  };
  const onProgress = (id: DeviceId, module: string, step: number, desc: string) => {
    const t = d.activeTask(id, module);
    const body: OtaProgressNotice = {
      iotId: iotIdOf(id), productKey: id.productKey, deviceName: id.deviceName, moduleName: module, step, desc, messageCreateTime: d.clock.now(),
      ...(t ? { srcVersion: t.srcVersion, destVersion: t.destVersion, jobId: t.jobId, taskId: t.taskId } : {}),
    };
    d.publish(APP_TOPICS.progress(id), { ...body });
  };
  const onInform = (id: DeviceId, module: string, version: string) => {
    const body: OtaVersionNotice = {
      iotId: iotIdOf(id), productKey: id.productKey, deviceName: id.deviceName, moduleName: module, moduleVersion: version, messageCreateTime: d.clock.now(),
    };
    d.publish(APP_TOPICS.version(id), { ...body });
  };
  const onJob = (job: Job) => {
    const body: OtaJobStatusNotice = {
      productKey: job.productKey, packageId: job.firmwareId, jobId: job.jobId, status: job.status, messageCreateTime: d.clock.now(),
    };
    d.publish(APP_TOPICS.jobStatus(job.productKey, job.firmwareId, job.jobId), { ...body });
  };

  d.events.on('device', onDevice);
  d.events.on('task', onTask);
  d.events.on('progress', onProgress);
  d.events.on('inform', onInform);
  d.events.on('job', onJob);
  return () => {
    d.events.off('device', onDevice);
    d.events.off('task', onTask);
    d.events.off('progress', onProgress);
    d.events.off('inform', onInform);
    d.events.off('job', onJob);
  };
}
