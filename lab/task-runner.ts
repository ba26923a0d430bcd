// What happens to one task and its job as they move: notices out, status changes through the
// lifecycle tables, the TimeoutInMinutes timer, and the job's (and its firmware's) settlement when
// the last task ends. The engine's entry points and the device-message handlers all change tasks
// through here, so each status is assigned in one place.
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { FINAL_TASK_STATUSES, FIRMWARE_STATUS, type TaskStatus } from '../shared/platform-rules.js';
import { deviceTopic, type DeviceId } from '../shared/topics.js';
import { utc, type Device, type Firmware, type Job, type Task } from './model.js';
import { buildNoticeData, noticeId, type NoticeStyle, type UrlSigner } from './notice.js';
import type { LabStore } from './store.js';
import { moveFirmware, moveJob, moveTask } from './transitions.js';

export interface EngineDeps {
  store: LabStore;
  clock: Clock;
  log: Logger;
  /** Publish to a device (QoS 1). */
  send: (topic: string, payload: Record<string, unknown>) => void;
  signUrl: UrlSigner;
  noticeStyle: NoticeStyle;
  /** Where the runner reports what happened ('task', 'job', 'device', 'inform', 'progress'); internal to
   *  the lab, which turns them into the platform's forwarded messages (app-forwarder.ts). */
  events?: EventEmitter;
}

export class TaskRunner {
  readonly d: EngineDeps;
  readonly #timers = new Map<string, TimerHandle>();
  #noticeSeq: number;
  noticeStyle: NoticeStyle;
  /** 'task' after every task change, 'job' when a job ends, 'device' on presence, 'inform' on a version report. */
  readonly events: EventEmitter;

  constructor(deps: EngineDeps) {
    this.d = deps;
    this.events = deps.events ?? new EventEmitter();
    this.noticeStyle = { ...deps.noticeStyle };
    this.#noticeSeq = deps.clock.now();
  }

  close(): void {
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
  }

  now(): string {
    return utc(this.d.clock.now());
  }

  device(id: DeviceId): Device | undefined {
    return this.d.store.find.device(id.productKey, id.deviceName);
  }

  /** The one unfinished task a device has for a module, if any (a device has at most one). */
  activeTask(id: DeviceId, module?: string): Task | undefined {
    return this.d.store.find.tasksOfDevice(id.productKey, id.deviceName)
      .find((t) => !FINAL_TASK_STATUSES.has(t.status) && (module === undefined || t.module === module));
  }

  tasksOf(jobId: string): Task[] {
    return this.d.store.find.tasksOfJob(jobId);
  }

  job(jobId: string): Job | undefined {
    return this.d.store.find.job(jobId);
  }

  firmware(firmwareId: string): Firmware | undefined {
    return this.d.store.find.firmware(firmwareId);
  }

  /** Send the notice to a QUEUED or NOTIFIED task's device if it is online and the job pushes. */
  pushIfOnline(task: Task): void {
    const job = this.job(task.jobId);
    if (!job?.needPush || (task.status !== 'QUEUED' && task.status !== 'NOTIFIED')) return;
    if (this.device(task)?.status !== 'ONLINE') return;
    const notice = { code: '1000', message: 'success', id: noticeId(this.noticeStyle, ++this.#noticeSeq), data: this.noticeData(task) };
    this.d.send(deviceTopic('upgrade', task), notice);
    if (task.status === 'QUEUED') this.mark(task, 'NOTIFIED');
    this.d.log.info({ jobId: task.jobId, device: task.deviceName, version: task.destVersion }, 'upgrade notice sent');
  }

  noticeData(task: Task): Record<string, unknown> {
    const fw = this.firmware(task.firmwareId);
    if (!fw) throw new Error(`firmware ${task.firmwareId} of task ${task.taskId} is gone`);
    const ext = Object.fromEntries((this.job(task.jobId)?.tags ?? []).map((t) => [t.Key, t.Value]));
    return buildNoticeData(fw, this.noticeStyle, this.d.signUrl, ext);
  }

  /** A move that does not end the task. */
  mark(task: Task, to: Exclude<TaskStatus, 'SUCCEEDED' | 'FAILED' | 'CANCELED'>): void {
    moveTask(task, to);
    task.utcModified = this.now();
    this.d.store.changed();
    this.events.emit('task', task);
  }

  /** The first progress message: IN_PROGRESS, and TimeoutInMinutes starts counting. */
  begin(task: Task): void {
    this.mark(task, 'IN_PROGRESS');
    task.firstProgressAtMs = this.d.clock.now();
    this.armTimeout(task);
  }

  /** A move that ends the task; the job (and a verify job's firmware) settles when it was the last. */
  finish(task: Task, to: 'SUCCEEDED' | 'FAILED' | 'CANCELED', desc: string): void {
    moveTask(task, to);
    task.taskDesc = desc;
    task.utcModified = this.now();
    this.#timers.get(task.taskId)?.cancel();
    this.#timers.delete(task.taskId);
    this.d.log.info({ jobId: task.jobId, device: task.deviceName, status: to, desc }, 'task finished');
    // The task's end is told before the job's, which it may end (observers see them in that order).
    this.events.emit('task', task);
    const job = this.job(task.jobId);
    if (job) this.settleJob(job);
    this.d.store.changed();
  }

  /** Back to the queue (ReupgradeOTATask): the job and a verify job's firmware reopen with it. */
  requeue(task: Task): void {
    moveTask(task, 'QUEUED');
    task.progress = 0;
    task.taskDesc = '';
    task.utcModified = this.now();
    delete task.firstProgressAtMs;
    const job = this.job(task.jobId);
    if (job) {
      moveJob(job, 'IN_PROGRESS');
      delete job.utcEndTime;
      const fw = this.firmware(job.firmwareId);
      if (fw && job.jobType === 'VERIFY_FIRMWARE') moveFirmware(fw, FIRMWARE_STATUS.verifying);
    }
    this.d.store.changed();
  }

  armTimeout(task: Task): void {
    if (!task.timeoutInMinutes || task.firstProgressAtMs === undefined) return;
    const dueMs = task.firstProgressAtMs + task.timeoutInMinutes * 60_000 - this.d.clock.now();
    this.#timers.get(task.taskId)?.cancel();
    this.#timers.set(task.taskId, this.d.clock.setTimer(dueMs, () => {
      this.#timers.delete(task.taskId);
      if (!FINAL_TASK_STATUSES.has(task.status)) this.finish(task, 'FAILED', `timeout: not finished within ${task.timeoutInMinutes} minutes of the first progress`);
    }));
  }

  /** Job COMPLETED when every task is final; a verify job's firmware is verified only if all succeeded. */
  settleJob(job: Job): void {
    const tasks = this.tasksOf(job.jobId);
    const done = tasks.filter((t) => FINAL_TASK_STATUSES.has(t.status)).length;
    const fw = this.firmware(job.firmwareId);
    const verifying = fw !== undefined && job.jobType === 'VERIFY_FIRMWARE';
    if (verifying) {
      fw.verifyProgress = tasks.length === 0 ? 100 : Math.floor((done * 100) / tasks.length);
      fw.utcModified = this.now();
    }
    if (done < tasks.length || job.status === 'COMPLETED' || job.status === 'CANCELED') return;
    const allCanceled = tasks.length > 0 && tasks.every((t) => t.status === 'CANCELED');
    moveJob(job, allCanceled ? 'CANCELED' : 'COMPLETED');
    job.utcEndTime = this.now();
    if (verifying) {
      const allSucceeded = tasks.length > 0 && tasks.every((t) => t.status === 'SUCCEEDED');
      moveFirmware(fw, allSucceeded ? FIRMWARE_STATUS.verified : FIRMWARE_STATUS.verificationFailed);
    }
    this.d.log.info({ jobId: job.jobId, status: job.status, firmwareStatus: fw?.status }, 'job finished');
    this.events.emit('job', job);
  }
}
