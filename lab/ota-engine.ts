// The OTA job engine: the task lifecycle of docs/platform.md (§ Task lifecycle). It reads device messages and sends
// notices through an injected `send`, so the same engine runs over the embedded broker or any
// external one, and its rules can be tested with a manual clock.
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import {
  firmwareGetSchema, informSchema, parseMessage, progressSchema,
} from '../shared/messages.js';
import { deviceTopic, parseDeviceTopic, type DeviceId } from '../shared/topics.js';
import { utc, type Device, type Firmware, type Job, type Task } from './model.js';
import { FINAL_TASK_STATUSES, type TaskStatus } from '../shared/platform-rules.js';
import { buildNoticeData, noticeId, type NoticeStyle, type UrlSigner } from './notice.js';
import type { LabStore } from './store.js';
import { moveJob, moveTask } from './transitions.js';

const FAIL_DESC: Readonly<Record<number, string>> = { [-1]: 'upgrade failed', [-2]: 'download failed', [-3]: 'verify failed', [-4]: 'burn failed' };

export interface EngineDeps {
  store: LabStore;
  clock: Clock;
  log: Logger;
  /** Publish to a device (QoS 1). */
  send: (topic: string, payload: Record<string, unknown>) => void;
  signUrl: UrlSigner;
  noticeStyle: NoticeStyle;
}

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
  readonly #d: EngineDeps;
  readonly #timers = new Map<string, TimerHandle>();
  #noticeSeq: number;
  noticeStyle: NoticeStyle;
  /** 'task' (Task) after every task change, 'job' (Job) when a job ends, 'device' (Device) on presence: tests wait on these. */
  readonly events = new EventEmitter();

  constructor(deps: EngineDeps) {
    this.#d = deps;
    this.noticeStyle = { ...deps.noticeStyle };
    this.#noticeSeq = deps.clock.now();
  }

  /** Re-arm timeouts of tasks that were in progress when a persisted lab stopped. */
  start(): void {
    for (const t of this.#d.store.state.tasks) if (t.status === 'IN_PROGRESS') this.#armTimeout(t);
  }

  close(): void {
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
  }

  device(id: DeviceId): Device | undefined {
    return this.#d.store.state.devices.find((d) => d.productKey === id.productKey && d.deviceName === id.deviceName);
  }

  /** The one unfinished task a device has for a module, if any (a device has at most one). */
  activeTask(id: DeviceId, module?: string): Task | undefined {
    return this.#d.store.state.tasks.find((t) => t.productKey === id.productKey && t.deviceName === id.deviceName
      && !FINAL_TASK_STATUSES.has(t.status) && (module === undefined || t.module === module));
  }

  createVerifyJob(input: VerifyJobInput): { job: Job; skipped: string[] } {
    const { store, clock } = this.#d;
    const now = utc(clock.now());
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
      const task: Task = {
        taskId: store.newId('task'), jobId: job.jobId, firmwareId: fw.firmwareId, productKey: fw.productKey, deviceName: name,
        iotId: dev.iotId, module: fw.moduleName, srcVersion: current, destVersion: fw.destVersion,
        status: input.needConfirm ? 'CONFIRM' : 'QUEUED', progress: 0, taskDesc: '', timeoutInMinutes: input.timeoutInMinutes,
        utcCreate: now, utcModified: now,
      };
      store.state.tasks.push(task);
    }
    fw.status = 2;
    fw.verifyProgress = 0;
    fw.utcModified = now;
    this.#d.log.info({ jobId: job.jobId, firmwareId: fw.firmwareId, devices: input.deviceNames, skipped }, 'verify job created');
    for (const t of this.tasksOf(job.jobId)) this.#pushIfOnline(t);
    this.#settleJob(job);
    store.changed();
    return { job, skipped };
  }

  tasksOf(jobId: string): Task[] {
    return this.#d.store.state.tasks.filter((t) => t.jobId === jobId);
  }

  /** Presence from the embedded broker (or the first message seen over an external one). */
  setOnline(id: DeviceId, online: boolean): void {
    const dev = this.device(id);
    if (!dev) return;
    const status = online ? 'ONLINE' : 'OFFLINE';
    if (dev.status === status) return;
    dev.status = status;
    if (online) dev.utcOnline = utc(this.#d.clock.now());
    this.#d.store.changed();
    this.events.emit('device', dev);
    // Offline devices get the notice again when they reconnect.
    if (online) for (const t of this.#d.store.state.tasks) {
      if (t.productKey === id.productKey && t.deviceName === id.deviceName && (t.status === 'QUEUED' || t.status === 'NOTIFIED')) this.#pushIfOnline(t);
    }
  }

  /** One message a device published. Garbage is logged once and dropped; the engine never throws. */
  handleUplink(topic: string, payload: Buffer): void {
    const parsed = parseDeviceTopic(topic);
    if (!parsed) return;
    try {
      if (!this.device(parsed)) throw new Error(`unknown device ${parsed.productKey}/${parsed.deviceName}`);
      if (this.device(parsed)?.status !== 'ONLINE') this.setOnline(parsed, true);
      switch (parsed.kind) {
        case 'inform': return this.#onInform(parsed, payload);
        case 'progress': return this.#onProgress(parsed, payload);
        case 'firmwareGet': return this.#onFirmwareGet(parsed, payload);
        default: return;
      }
    } catch (err) {
      this.#d.log.warn({ topic, err: errorMessage(err) }, 'device message dropped');
    }
  }

  #onInform(id: DeviceId, payload: Buffer): void {
    const msg = parseMessage(informSchema, payload, 'inform');
    const module = msg.params.module ?? 'default';
    const dev = this.device(id) as Device;
    dev.moduleVersions[module] = msg.params.version;
    this.#d.store.changed();
    this.events.emit('inform', id, module, msg.params.version);
    const task = this.activeTask(id, module);
    if (!task || task.status === 'CONFIRM') return;
    if (msg.params.version === task.destVersion) {
      task.progress = 100;
      this.#finish(task, 'SUCCEEDED', '');
    } else if (task.srcVersion === '' && (task.status === 'QUEUED' || task.status === 'NOTIFIED')) {
      // Never seen when the job was created: this first report is where it starts from, not a wrong version.
      task.srcVersion = msg.params.version;
      this.#d.store.changed();
      if (task.status === 'QUEUED') this.#pushIfOnline(task);
    } else if (msg.params.version !== task.srcVersion) {
      this.#finish(task, 'FAILED', 'report version is not conform');
    } else if (task.status === 'QUEUED') {
      this.#pushIfOnline(task);
    }
  }

  #onProgress(id: DeviceId, payload: Buffer): void {
    const msg = parseMessage(progressSchema, payload, 'progress');
    const task = this.activeTask(id, msg.params.module ?? 'default');
    if (!task || task.status === 'CONFIRM') {
      this.#d.log.info({ device: id.deviceName, step: msg.params.step }, 'progress with no task in progress ignored');
      return;
    }
    const step = msg.params.step;
    if (step < 0) {
      this.#finish(task, 'FAILED', msg.params.desc || FAIL_DESC[step] || 'upgrade failed');
      return;
    }
    if (task.status !== 'IN_PROGRESS') {
      moveTask(task, 'IN_PROGRESS');
      // TimeoutInMinutes counts from the first progress message.
      task.firstProgressAtMs = this.#d.clock.now();
      this.#armTimeout(task);
    }
    task.progress = step;
    if (msg.params.desc !== undefined) task.taskDesc = msg.params.desc;
    task.utcModified = utc(this.#d.clock.now());
    this.#d.store.changed();
    this.events.emit('task', task);
  }

  #onFirmwareGet(id: DeviceId, payload: Buffer): void {
    const msg = parseMessage(firmwareGetSchema, payload, 'firmware/get');
    const task = this.activeTask(id, msg.params?.module ?? 'default');
    const reply: Record<string, unknown> = { id: msg.id, code: 200, data: {} };
    if (task && task.status !== 'CONFIRM') {
      reply.data = this.#noticeData(task);
      if (task.status === 'QUEUED') this.#mark(task, 'NOTIFIED');
    }
    this.#d.send(deviceTopic('firmwareGetReply', id), reply);
  }

  /** Cancel these tasks (those already final are left as they are). */
  cancel(tasks: readonly Task[]): void {
    for (const t of tasks) if (!FINAL_TASK_STATUSES.has(t.status)) this.#finish(t, 'CANCELED', 'canceled by user');
  }

  reupgrade(tasks: Task[]): void {
    for (const t of tasks) {
      moveTask(t, 'QUEUED');
      t.progress = 0;
      t.taskDesc = '';
      delete t.firstProgressAtMs;
      const job = this.#job(t.jobId);
      if (job) {
        moveJob(job, 'IN_PROGRESS');
        delete job.utcEndTime;
        const fw = this.#firmware(job.firmwareId);
        if (fw && job.jobType === 'VERIFY_FIRMWARE') fw.status = 2;
      }
      this.#pushIfOnline(t);
    }
    this.#d.store.changed();
  }

  confirm(tasks: Task[]): void {
    for (const t of tasks) {
      moveTask(t, 'QUEUED');
      this.#pushIfOnline(t);
    }
    this.#d.store.changed();
  }

  #pushIfOnline(task: Task): void {
    const job = this.#job(task.jobId);
    if (!job?.needPush || (task.status !== 'QUEUED' && task.status !== 'NOTIFIED')) return;
    const dev = this.device(task);
    if (dev?.status !== 'ONLINE') return;
    const notice = { code: '1000', message: 'success', id: noticeId(this.noticeStyle, ++this.#noticeSeq), data: this.#noticeData(task) };
    this.#d.send(deviceTopic('upgrade', task), notice);
    if (task.status === 'QUEUED') this.#mark(task, 'NOTIFIED');
    this.#d.log.info({ jobId: task.jobId, device: task.deviceName, version: task.destVersion }, 'upgrade notice sent');
  }

  #noticeData(task: Task): Record<string, unknown> {
    const fw = this.#firmware(task.firmwareId);
    const job = this.#job(task.jobId);
    if (!fw) throw new Error(`firmware ${task.firmwareId} of task ${task.taskId} is gone`);
    const ext = Object.fromEntries((job?.tags ?? []).map((t) => [t.Key, t.Value]));
    return buildNoticeData(fw, this.noticeStyle, this.#d.signUrl, ext);
  }

  #mark(task: Task, to: TaskStatus): void {
    moveTask(task, to);
    task.utcModified = utc(this.#d.clock.now());
    this.#d.store.changed();
    this.events.emit('task', task);
  }

  #finish(task: Task, to: 'SUCCEEDED' | 'FAILED' | 'CANCELED', desc: string): void {
    moveTask(task, to);
    task.taskDesc = desc;
    task.utcModified = utc(this.#d.clock.now());
    this.#timers.get(task.taskId)?.cancel();
    this.#timers.delete(task.taskId);
    this.#d.log.info({ jobId: task.jobId, device: task.deviceName, status: to, desc }, 'task finished');
    const job = this.#job(task.jobId);
    if (job) this.#settleJob(job);
    this.#d.store.changed();
    this.events.emit('task', task);
  }

  #armTimeout(task: Task): void {
    if (!task.timeoutInMinutes || task.firstProgressAtMs === undefined) return;
    const dueMs = task.firstProgressAtMs + task.timeoutInMinutes * 60_000 - this.#d.clock.now();
    this.#timers.get(task.taskId)?.cancel();
    this.#timers.set(task.taskId, this.#d.clock.setTimer(dueMs, () => {
      this.#timers.delete(task.taskId);
      if (!FINAL_TASK_STATUSES.has(task.status)) this.#finish(task, 'FAILED', `timeout: not finished within ${task.timeoutInMinutes} minutes of the first progress`);
    }));
  }

  /** Job COMPLETED when every task is final; a verify job's firmware is verified only if all succeeded. */
  #settleJob(job: Job): void {
    const tasks = this.tasksOf(job.jobId);
    const done = tasks.filter((t) => FINAL_TASK_STATUSES.has(t.status)).length;
    const fw = this.#firmware(job.firmwareId);
    if (fw && job.jobType === 'VERIFY_FIRMWARE') {
      fw.verifyProgress = tasks.length === 0 ? 100 : Math.floor((done * 100) / tasks.length);
      fw.utcModified = utc(this.#d.clock.now());
    }
    if (done < tasks.length || job.status === 'COMPLETED' || job.status === 'CANCELED') return;
    const allCanceled = tasks.length > 0 && tasks.every((t) => t.status === 'CANCELED');
    moveJob(job, allCanceled ? 'CANCELED' : 'COMPLETED');
    job.utcEndTime = utc(this.#d.clock.now());
    if (fw && job.jobType === 'VERIFY_FIRMWARE') {
      fw.status = tasks.length > 0 && tasks.every((t) => t.status === 'SUCCEEDED') ? 1 : 3;
    }
    this.#d.log.info({ jobId: job.jobId, status: job.status, firmwareStatus: fw?.status }, 'job finished');
    this.events.emit('job', job);
  }

  #job(jobId: string): Job | undefined {
    return this.#d.store.state.jobs.find((j) => j.jobId === jobId);
  }

  #firmware(firmwareId: string): Firmware | undefined {
    return this.#d.store.state.firmware.find((f) => f.firmwareId === firmwareId);
  }
}
