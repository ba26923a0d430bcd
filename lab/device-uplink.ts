// What the platform does with each message a device publishes (docs/platform.md, "How the platform
// decides"): inform ends a task (success only from the destination version), progress moves it and
// a negative step fails it, firmware/get answers with the pending notice.
import { firmwareGetSchema, informSchema, parseMessage, progressSchema } from '../shared/messages.js';
import { DEFAULT_MODULE, PROGRESS_STEP } from '../shared/platform-rules.js';
import { deviceTopic, type DeviceId } from '../shared/topics.js';
import type { Device } from './model.js';
import type { TaskRunner } from './task-runner.js';

const FAIL_DESC: Readonly<Record<number, string>> = {
  [PROGRESS_STEP.upgradeFailed]: 'upgrade failed', [PROGRESS_STEP.downloadFailed]: 'download failed',
  [PROGRESS_STEP.verifyFailed]: 'verify failed', [PROGRESS_STEP.installFailed]: 'burn failed',
};

export function onInform(run: TaskRunner, id: DeviceId, payload: Buffer): void {
  const msg = parseMessage(informSchema, payload, 'inform');
  const module = msg.params.module ?? DEFAULT_MODULE;
  const dev = run.device(id) as Device;
  dev.moduleVersions[module] = msg.params.version;
  run.d.store.changed();
  run.events.emit('inform', id, module, msg.params.version);
  const task = run.activeTask(id, module);
  if (!task || task.status === 'CONFIRM') return;
  if (msg.params.version === task.destVersion) {
    task.progress = 100;
    run.finish(task, 'SUCCEEDED', '');
  } else if (task.srcVersion === '') {
    // Never seen when the job was created: the first version it reports is where it starts from, not a
    // wrong version, in whatever state the task is. A device may report progress for the notice it got
    // at connect before its version report arrives (the platform delivers notices to a device that
    // never subscribed, the moment it connects); failing it then would be a false "failed".
    task.srcVersion = msg.params.version;
    run.d.store.changed();
    if (task.status === 'QUEUED') run.pushIfOnline(task);
  } else if (msg.params.version !== task.srcVersion) {
    run.finish(task, 'FAILED', 'report version is not conform');
  } else if (task.status === 'QUEUED') {
    run.pushIfOnline(task);
  }
}

export function onProgress(run: TaskRunner, id: DeviceId, payload: Buffer): void {
  const msg = parseMessage(progressSchema, payload, 'progress');
  // Every progress as received, task or not: what a device reported is observable (tests, tooling).
  run.events.emit('progress', id, msg.params.module ?? DEFAULT_MODULE, msg.params.step, msg.params.desc ?? '');
  const task = run.activeTask(id, msg.params.module ?? DEFAULT_MODULE);
  if (!task || task.status === 'CONFIRM') {
    run.d.log.info({ device: id.deviceName, step: msg.params.step }, 'progress with no task in progress ignored');
    return;
  }
  const step = msg.params.step;
  if (step < 0) {
    run.finish(task, 'FAILED', msg.params.desc || FAIL_DESC[step] || 'upgrade failed');
    return;
  }
  // TimeoutInMinutes counts from the first progress message.
  if (task.status !== 'IN_PROGRESS') run.begin(task);
  task.progress = step;
  if (msg.params.desc !== undefined) task.taskDesc = msg.params.desc;
  task.utcModified = run.now();
  run.d.store.changed();
  run.events.emit('task', task);
}

export function onFirmwareGet(run: TaskRunner, id: DeviceId, payload: Buffer): void {
  const msg = parseMessage(firmwareGetSchema, payload, 'firmware/get');
  const task = run.activeTask(id, msg.params?.module ?? DEFAULT_MODULE);
  const reply: Record<string, unknown> = { id: msg.id, code: 200, data: {} };
  if (task && task.status !== 'CONFIRM') {
    reply.data = run.noticeData(task);
    if (task.status === 'QUEUED') run.mark(task, 'NOTIFIED');
  }
  run.d.send(deviceTopic('firmwareGetReply', id), reply);
}
