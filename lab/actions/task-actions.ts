// ListOTATaskByJob, CancelOTATaskByJob, ReupgradeOTATask, ConfirmOTATask, CancelOTATaskByDevice,
// ListOTAUnfinishedTaskByDevice.
import { DEVICE_NAME_RULE, FINAL_TASK_STATUSES, PRODUCT_KEY_RULE, TASK_STATUSES, UNFINISHED_TASK_STATUSES } from '../../shared/platform-rules.js';
import type { TaskStatus } from '../../shared/platform-rules.js';
import type { Device, Task } from '../model.js';
import { apiError, invalidParameter, missingParameter } from '../api-error.js';
import { findFirmware, page, productName, type ActionContext, type ActionHandler } from './context.js';
import { findJob } from './job-actions.js';

/** The fields every task row has (the SDK models of both task lists). */
function taskBase(ctx: ActionContext, t: Task): Record<string, unknown> {
  return {
    TaskId: t.taskId, JobId: t.jobId, FirmwareId: t.firmwareId, DeviceName: t.deviceName, ProductKey: t.productKey,
    ProductName: productName(ctx, t.productKey), IotId: t.iotId, SrcVersion: t.srcVersion, DestVersion: t.destVersion,
    TaskStatus: t.status, UtcCreate: t.utcCreate, UtcModified: t.utcModified,
  };
}

/** A ListOTATaskByJob row: progress, reason and timeout, no module. */
function jobTaskRow(ctx: ActionContext, t: Task): Record<string, unknown> {
  return {
    ...taskBase(ctx, t), Progress: t.progress.toFixed(2), TaskDesc: t.taskDesc, Timeout: t.timeoutInMinutes ? String(t.timeoutInMinutes) : '',
  };
}

/** A ListOTAUnfinishedTaskByDevice row: the module, no progress or reason. */
function deviceTaskRow(ctx: ActionContext, t: Task): Record<string, unknown> {
  return { ...taskBase(ctx, t), ModuleName: t.module };
}

function statusParam(ctx: ActionContext, name: string): TaskStatus | undefined {
  const v = ctx.params.optString(name);
  if (v === undefined) return undefined;
  if (!(TASK_STATUSES as readonly string[]).includes(v)) throw invalidParameter(name, TASK_STATUSES.join(', '), v);
  return v as TaskStatus;
}

export const listOtaTaskByJob: ActionHandler = (ctx) => {
  const job = findJob(ctx, ctx.params.string('JobId', { maxLen: 64 }));
  const status = statusParam(ctx, 'TaskStatus');
  const names = ctx.params.list('DeviceNames', 50);
  const tasks = ctx.engine.tasksOf(job.jobId)
    .filter((t) => (status === undefined || t.status === status) && (names.length === 0 || names.includes(t.deviceName)));
  const { rows, paging } = page(ctx, tasks, 100);
  return { ...paging, Data: { SimpleOTATaskInfo: rows.map((t) => jobTaskRow(ctx, t)) } };
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
  // Everything is checked before anything changes: a repeated id is refused, never half applied.
  const repeated = ids.find((id, i) => ids.indexOf(id) !== i);
  if (repeated !== undefined) throw invalidParameter(`${name}.N`, `each ${name} once`, repeated);
  return ids.map((id) => {
    const t = ctx.store.find.task(id);
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

/** The device a call names: IotId alone, or ProductKey + DeviceName. */
function namedDevice(ctx: ActionContext): Device {
  const iotId = ctx.params.optString('IotId', { maxLen: 64 });
  if (iotId) {
    const dev = ctx.store.find.deviceByIotId(iotId);
    if (!dev) throw apiError('iot.device.NotExistedDevice', `No device has IotId ${JSON.stringify(iotId)}.`);
    return dev;
  }
  const productKey = ctx.params.string('ProductKey', PRODUCT_KEY_RULE);
  const deviceName = ctx.params.string('DeviceName', DEVICE_NAME_RULE);
  const dev = ctx.engine.device({ productKey, deviceName });
  if (!dev) throw apiError('iot.device.NotExistedDevice', `The device ${deviceName} does not exist in product ${productKey}.`);
  return dev;
}

/** The status filter in the form this lab takes (`--unfinished-filter`); the other form is refused as unknown. */
function unfinishedFilter(ctx: ActionContext): readonly TaskStatus[] | undefined {
  const unfinished: readonly string[] = UNFINISHED_TASK_STATUSES;
  const describe = UNFINISHED_TASK_STATUSES.join(', ');
  const listGiven = ctx.params.list('TaskStatusList', UNFINISHED_TASK_STATUSES.length);
  if (ctx.unfinishedFilter === 'task-status-list') {
    if (ctx.params.has('TaskStatus')) throw apiError('InvalidParameter', 'The parameter "TaskStatus" is not a parameter of ListOTAUnfinishedTaskByDevice; use TaskStatusList.N.', 400);
    if (listGiven.length === 0) throw missingParameter('TaskStatusList.N');
    listGiven.forEach((s, i) => { if (!unfinished.includes(s)) throw invalidParameter(`TaskStatusList.${i + 1}`, describe, s); });
    return listGiven as TaskStatus[];
  }
  if (listGiven.length > 0) throw apiError('InvalidParameter', 'The parameter "TaskStatusList.N" is not a parameter of ListOTAUnfinishedTaskByDevice; use TaskStatus.', 400);
  const one = ctx.params.optString('TaskStatus');
  if (one === undefined) return undefined;
  if (!unfinished.includes(one)) throw invalidParameter('TaskStatus', describe, one);
  return [one as TaskStatus];
}

export const listOtaUnfinishedTaskByDevice: ActionHandler = (ctx) => {
  const dev = namedDevice(ctx);
  const wanted = unfinishedFilter(ctx);
  const moduleName = ctx.params.optString('ModuleName');
  const tasks = ctx.store.find.tasksOfDevice(dev.productKey, dev.deviceName).filter((t) => !FINAL_TASK_STATUSES.has(t.status) && (wanted === undefined || wanted.includes(t.status))
    && (moduleName === undefined || t.module === moduleName));
  return { Data: { SimpleOTATaskInfo: tasks.map((t) => deviceTaskRow(ctx, t)) } };
};
