// Every action the lab's OpenAPI serves, by its platform name.
import type { ActionHandler } from './context.js';
import { batchQueryDeviceDetail, queryDeviceDetail } from './device-actions.js';
import { createOtaFirmware, listOtaFirmware, queryOtaFirmware } from './firmware-actions.js';
import { createOtaVerifyJob, listOtaJobByFirmware, queryOtaJob } from './job-actions.js';
import {
  cancelOtaTaskByDevice, cancelOtaTaskByJob, confirmOtaTask, listOtaTaskByJob, listOtaUnfinishedTaskByDevice, reupgradeOtaTask,
} from './task-actions.js';

export const LAB_ACTIONS: Readonly<Record<string, ActionHandler>> = Object.freeze({
  CreateOTAFirmware: createOtaFirmware,
  QueryOTAFirmware: queryOtaFirmware,
  ListOTAFirmware: listOtaFirmware,
  CreateOTAVerifyJob: createOtaVerifyJob,
  QueryOTAJob: queryOtaJob,
  ListOTAJobByFirmware: listOtaJobByFirmware,
  ListOTATaskByJob: listOtaTaskByJob,
  CancelOTATaskByJob: cancelOtaTaskByJob,
  ReupgradeOTATask: reupgradeOtaTask,
  ConfirmOTATask: confirmOtaTask,
  CancelOTATaskByDevice: cancelOtaTaskByDevice,
  QueryDeviceDetail: queryDeviceDetail,
  BatchQueryDeviceDetail: batchQueryDeviceDetail,
  ListOTAUnfinishedTaskByDevice: listOtaUnfinishedTaskByDevice,
});
