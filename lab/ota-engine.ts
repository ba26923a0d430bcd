// The OTA job engine's entry points: verify jobs, presence, device messages, and the API's task
// commands. It reads device messages and sends notices through an injected `send`, so the same
// engine runs over the embedded broker or any external one, and its rules run on a manual clock.
// Every status change goes through the TaskRunner and the lifecycle tables (transitions.ts).
import { errorMessage, OtaError } from '../shared/errors.js';
import { FINAL_TASK_STATUSES, FIRMWARE_STATUS } from '../shared/platform-rules.js';
import { parseDeviceTopic, type DeviceId } from '../shared/topics.js';
import type { Device, Firmware, Job, Task } from './model.js';
import type { NoticeStyle } from './notice.js';
import { onFirmwareGet, onInform, onProgress } from './device-uplink.js';
import { TaskRunner, type EngineDeps } from './task-runner.js';
import { canMoveFirmware, canMoveJob, canMoveTask, moveFirmware, moveTask } from './transitions.js';

export type { EngineDeps } from './task-runner.js';

export interface VerifyJobInput {
  firmware: Firmware;
  deviceNames: string[];
  timeoutInMinutes?: number;
  needPush: boolean;
  needConfirm: boolean;
  downloadProtocol: 'HTTPS' | 'MQTT';
  tags: { Key: string; Value: string }[];
}

export class OtaEngine {
  readonly #run: TaskRunner;

  constructor(deps: EngineDeps) {
    this.#run = new TaskRunner(deps);
  }

  /** How notices are spelled; a lab option, changeable while the lab runs. */
  get noticeStyle(): NoticeStyle {
    return this.#run.noticeStyle;
  }

  set noticeStyle(style: NoticeStyle) {
    this.#run.noticeStyle = { ...style };
  }

  /** Re-arm timeouts of tasks that were in progress when a persisted lab stopped. */
  start(): void {
    for (const t of this.#run.d.store.state.tasks) if (t.status === 'IN_PROGRESS') this.#run.armTimeout(t);
  }

  close(): void {
    this.#run.close();
  }

  device(id: DeviceId): Device | undefined {
    return this.#run.device(id);
  }

  activeTask(id: DeviceId, module?: string): Task | undefined {
    return this.#run.activeTask(id, module);
  }

  tasksOf(jobId: string): Task[] {
    return this.#run.tasksOf(jobId);
  }

  createVerifyJob(input: VerifyJobInput): { job: Job; skipped: string[] } {
    const run = this.#run;
    const { store } = run.d;
    const now = run.now();
    const fw = input.firmware;
    const job: Job = {
      jobId: store.newId('job'), jobType: 'VERIFY_FIRMWARE', firmwareId: fw.firmwareId, productKey: fw.productKey,
      destVersion: fw.destVersion, srcVersion: fw.srcVersion, status: 'IN_PROGRESS', timeoutInMinutes: input.timeoutInMinutes,
      needPush: input.needPush, needConfirm: input.needConfirm, downloadProtocol: input.downloadProtocol, tags: input.tags,
      targetDeviceNames: input.deviceNames, utcCreate: now, utcStartTime: now,
    };
    store.state.jobs.push(job);
    const skipped: string[] = [];
    for (const name of input.deviceNames) {
      const dev = this.device({ productKey: fw.productKey, deviceName: name });
      if (!dev) continue;
      const current = dev.moduleVersions[fw.moduleName] ?? '';
      // A device already at the destination version is skipped when the job is created.
      if (current === fw.destVersion) { skipped.push(name); continue; }
      store.state.tasks.push({
        taskId: store.newId('task'), jobId: job.jobId, firmwareId: fw.firmwareId, productKey: fw.productKey, deviceName: name,
        iotId: dev.iotId, module: fw.moduleName, srcVersion: current, destVersion: fw.destVersion,
        status: input.needConfirm ? 'CONFIRM' : 'QUEUED', progress: 0, taskDesc: '', timeoutInMinutes: input.timeoutInMinutes,
        utcCreate: now, utcModified: now,
      });
    }
    moveFirmware(fw, FIRMWARE_STATUS.verifying);
    fw.verifyProgress = 0;
    fw.utcModified = now;
    run.d.log.info({ jobId: job.jobId, firmwareId: fw.firmwareId, devices: input.deviceNames, skipped }, 'verify job created');
    for (const t of this.tasksOf(job.jobId)) run.pushIfOnline(t);
    run.settleJob(job);
    store.changed();
    return { job, skipped };
  }

  /** Presence from the embedded broker (or the first message seen over an external one). */
  setOnline(id: DeviceId, online: boolean): void {
    const dev = this.device(id);
    if (!dev) return;
    const status = online ? 'ONLINE' : 'OFFLINE';
    if (dev.status === status) return;
    dev.status = status;
    if (online) dev.utcOnline = this.#run.now();
    this.#run.d.store.changed();
    this.#run.events.emit('device', dev);
    // Offline devices get the notice again when they reconnect.
    if (online) for (const t of this.#run.d.store.find.tasksOfDevice(id.productKey, id.deviceName)) {
      if (t.status === 'QUEUED' || t.status === 'NOTIFIED') this.#run.pushIfOnline(t);
    }
  }

  /** One message a device published. Garbage is logged once and dropped; the engine never throws. */
  handleUplink(topic: string, payload: Buffer): void {
    const parsed = parseDeviceTopic(topic);
    if (!parsed) return;
    try {
      const dev = this.device(parsed);
      if (!dev) throw new Error(`unknown device ${parsed.productKey}/${parsed.deviceName}`);
      if (dev.status !== 'ONLINE') this.setOnline(parsed, true);
      switch (parsed.kind) {
        case 'inform': return onInform(this.#run, parsed, payload);
        case 'progress': return onProgress(this.#run, parsed, payload);
        case 'firmwareGet': return onFirmwareGet(this.#run, parsed, payload);
        default: return;
      }
    } catch (err) {
      this.#run.d.log.warn({ topic, err: errorMessage(err) }, 'device message dropped');
    }
  }

  /** Cancel these tasks (those already final are left as they are). */
  cancel(tasks: readonly Task[]): void {
    for (const t of tasks) if (!FINAL_TASK_STATUSES.has(t.status)) this.#run.finish(t, 'CANCELED', 'canceled by user');
  }

  /** FAILED or CANCELED tasks back to the queue. Every move is checked first: all of them happen, or none. */
  reupgrade(tasks: readonly Task[]): void {
    const run = this.#run;
    for (const t of tasks) {
      const job = run.job(t.jobId);
      const fw = job && job.jobType === 'VERIFY_FIRMWARE' ? run.firmware(job.firmwareId) : undefined;
      if (!canMoveTask(t.status, 'QUEUED') || (job && !canMoveJob(job.status, 'IN_PROGRESS'))
        || (fw && !canMoveFirmware(fw.status, FIRMWARE_STATUS.verifying))) {
        throw new OtaError('ILLEGAL_TRANSITION', `task ${t.taskId} (${t.status}) cannot be upgraded again`, { expected: 'a FAILED or CANCELED task', found: t.status });
      }
    }
    if (new Set(tasks).size !== tasks.length) throw new OtaError('ILLEGAL_TRANSITION', 'the same task is named twice', { expected: 'each task once' });
    for (const t of tasks) {
      run.requeue(t);
      run.pushIfOnline(t);
    }
  }

  confirm(tasks: readonly Task[]): void {
    for (const t of tasks) if (!canMoveTask(t.status, 'QUEUED')) throw new OtaError('ILLEGAL_TRANSITION', `task ${t.taskId} is ${t.status}`, { expected: 'CONFIRM', found: t.status });
    for (const t of tasks) {
      moveTask(t, 'QUEUED');
      t.utcModified = this.#run.now();
      this.#run.pushIfOnline(t);
    }
    this.#run.d.store.changed();
  }
}
