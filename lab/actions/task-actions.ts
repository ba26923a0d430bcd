// ListOTATaskByJob, CancelOTATaskByJob, ReupgradeOTATask, ConfirmOTATask, CancelOTATaskByDevice,
// ListOTAUnfinishedTaskByDevice.
import type { Task } from '../model.js';
import { FINAL_TASK_STATUSES, type TaskStatus } from '../../shared/platform-rules.js';
import { apiError, invalidParameter } from '../api-error.js';
import { DEVICE_NAME_RULE, PRODUCT_KEY_RULE } from '../../shared/platform-rules.js';
import { findFirmware, page, type ActionContext, type ActionHandler } from './context.js';
import { findJob } from './job-actions.js';

const TASK_STATUSES: readonly TaskStatus[] = ['CONFIRM', 'QUEUED', 'NOTIFIED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'CANCELED'];

function taskInfo(t: Task): Record<string, unknown> {
  return {
    TaskId: t.taskId, JobId: t.jobId, FirmwareId: t.firmwareId, DeviceName: t.deviceName, ProductKey: t.productKey, IotId: t.iotId,
    SrcVersion: t.srcVersion, DestVersion: t.destVersion, ModuleName: t.module, TaskStatus: t.status,
    Progress: t.progress.toFixed(2), TaskDesc: t.taskDesc, Timeout: t.timeoutInMinutes ? String(t.timeoutInMinutes) : '',
    UtcCreate: t.utcCreate, UtcModified: t.utcModified,
  };
}

function statusParam(ctx: ActionContext, name: string): TaskStatus | undefined {
  const v = ctx.params.optString(name);
  if (v === undefined) return undefined;
  if (!TASK_STATUSES.includes(v as TaskStatus)) throw invalidParameter(name, TASK_STATUSES.join(', '), v);
  return v as TaskStatus;
}

export const listOtaTaskByJob: ActionHandler = (ctx) => {
  const job = findJob(ctx, ctx.params.string('JobId', { maxLen: 64 }));
  const status = statusParam(ctx, 'TaskStatus');
  const names = ctx.params.list('DeviceNames', 50);
  const tasks = ctx.engine.tasksOf(job.jobId)
    .filter((t) => (status === undefined || t.status === status) && (names.length === 0 || names.includes(t.deviceName)));
  const { rows, paging } = page(ctx, tasks, 100);
  return { ...paging, Data: { SimpleOTATaskInfo: rows.map(taskInfo) } };
};

export const cancelOtaTaskByJob: ActionHandler = (ctx) => {
  const job = findJob(ctx, ctx.params.string('JobId', { maxLen: 64 }));
  const which = new Set<TaskStatus>();
  if (ctx.params.optBool('CancelQueuedTask')) which.add('QUEUED');
  if (ctx.params.optBool('CancelNotifiedTask')) which.add('NOTIFIED');
  if (ctx.params.optBool('CancelInProgressTask')) which.add('IN_PROGRESS');
  if (ctx.params.optBool('CancelUnconfirmedTask')) which.add('CONFIRM');
  if (which.size === 0 && !ctx.params.optBool('CancelScheduledTask')) {
    throw apiError('iot.ota.CancelOptionRequired', 'Say which tasks to cancel: at least one of CancelQueuedTask, CancelNotifiedTask, CancelInProgressTask, CancelUnconfirmedTask, CancelScheduledTask must be true.', 400);
  }
  if (job.status === 'COMPLETED' || job.status === 'CANCELED') throw apiError('iot.ota.JobHasFinished', `The job ${job.jobId} has already finished.`);
  ctx.engine.cancel(ctx.engine.tasksOf(job.jobId).filter((t) => which.has(t.status)));
  return {};
};

function tasksById(ctx: ActionContext, name: string, max: number): Task[] {
  const ids = ctx.params.list(name, max);
  if (ids.length === 0) throw apiError('MissingParameter', `The input parameter "${name}.N" that is mandatory for processing this request is not supplied.`, 400);
  return ids.map((id) => {
    const t = ctx.store.state.tasks.find((x) => x.taskId === id);
    if (!t) throw apiError('iot.ota.InvalidTaskId', `The task ${JSON.stringify(id)} does not exist.`);
    return t;
  });
}

export const reupgradeOtaTask: ActionHandler = (ctx) => {
  const job = findJob(ctx, ctx.params.string('JobId', { maxLen: 64 }));
  const tasks = tasksById(ctx, 'TaskId', 10);
  const wrong = tasks.find((t) => t.jobId !== job.jobId || (t.status !== 'FAILED' && t.status !== 'CANCELED'));
  if (wrong) throw apiError('iot.ota.InvalidTaskId', `The task ${wrong.taskId} is ${wrong.jobId !== job.jobId ? 'not in this job' : wrong.status}; only FAILED or CANCELED tasks of the job can be upgraded again.`);
  const busy = tasks.find((t) => ctx.engine.activeTask(t, t.module));
  if (busy) throw apiError('iot.ota.TooManyOtaTask', `The device ${busy.deviceName} already has an unfinished OTA task.`);
  ctx.engine.reupgrade(tasks);
  return {};
};

export const confirmOtaTask: ActionHandler = (ctx) => {
  const tasks = tasksById(ctx, 'TaskId', 10);
  const wrong = tasks.find((t) => t.status !== 'CONFIRM');
  if (wrong) throw apiError('iot.ota.InvalidTaskId', `The task ${wrong.taskId} is ${wrong.status}, not waiting for confirmation.`);
  ctx.engine.confirm(tasks);
  return {};
};

export const cancelOtaTaskByDevice: ActionHandler = (ctx) => {
  const fw = findFirmware(ctx, ctx.params.string('FirmwareId', { maxLen: 64 }));
  const productKey = ctx.params.string('ProductKey', PRODUCT_KEY_RULE);
  const names = ctx.params.list('DeviceName', 100);
  if (names.length === 0) throw apiError('MissingParameter', 'The input parameter "DeviceName.N" that is mandatory for processing this request is not supplied.', 400);
  const jobId = ctx.params.optString('JobId');
  ctx.engine.cancel(ctx.store.state.tasks.filter((t) => t.firmwareId === fw.firmwareId && t.productKey === productKey
    && names.includes(t.deviceName) && !FINAL_TASK_STATUSES.has(t.status) && (jobId === undefined || t.jobId === jobId)));
  return {};
};

export const listOtaUnfinishedTaskByDevice: ActionHandler = (ctx) => {
  const productKey = ctx.params.string('ProductKey', PRODUCT_KEY_RULE);
  const deviceName = ctx.params.string('DeviceName', DEVICE_NAME_RULE);
  if (!ctx.engine.device({ productKey, deviceName })) throw apiError('iot.device.NotExistedDevice', `The device ${deviceName} does not exist in product ${productKey}.`);
  const wanted = ctx.params.list('TaskStatusList', 10);
  for (const [i, s] of wanted.entries()) if (!TASK_STATUSES.includes(s as TaskStatus)) throw invalidParameter(`TaskStatusList.${i + 1}`, TASK_STATUSES.join(', '), s);
  const moduleName = ctx.params.optString('ModuleName');
  const tasks = ctx.store.state.tasks.filter((t) => t.productKey === productKey && t.deviceName === deviceName
    && !FINAL_TASK_STATUSES.has(t.status) && (wanted.length === 0 || wanted.includes(t.status))
    && (moduleName === undefined || t.module === moduleName));
  return { Data: { SimpleOTATaskInfo: tasks.map(taskInfo) } };
};
