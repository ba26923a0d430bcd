// ListOTAUnfinishedTaskByDevice needs a status filter, and the platform's two descriptions disagree on
// its form: the English API reference documents `TaskStatusList.N`, the official API model has only
// `TaskStatus` (one status). We send the documented form first; when the platform refuses that form
// we ask again with `TaskStatus`, one call per unfinished status, and keep using whichever form worked
// for the rest of the process (docs/platform.md).
import { isOtaError } from '../shared/errors.js';
import { UNFINISHED_TASK_STATUSES } from '../shared/platform-rules.js';
import type { PlatformApi } from './platform-api.js';
import { parseAnswer, rowsOf, type TaskRow } from './platform-schemas.js';

export type StatusFilterForm = 'TaskStatusList' | 'TaskStatus';

/** A refusal of the request's shape (the filter's form), as opposed to "no such device" or throttling. */
function refusesForm(err: unknown): boolean {
  if (!isOtaError(err, 'PLATFORM_ERROR')) return false;
  const code = String(err.details.platformCode);
  return /^(MissingParameter|InvalidParameter|iot\.check\.|iot\.common\.InvalidParam)/.test(code) || /TaskStatus/.test(err.message);
}

export class UnfinishedTasks {
  readonly #api: PlatformApi;
  readonly #instance: string | undefined;
  #form: StatusFilterForm | undefined;

  constructor(api: PlatformApi, instance?: string) {
    this.#api = api;
    this.#instance = instance;
  }

  /** The form the platform accepted, once one has been. */
  get form(): StatusFilterForm | undefined {
    return this.#form;
  }

  /** The device's unfinished OTA tasks (any module). */
  async of(productKey: string, deviceName: string): Promise<TaskRow[]> {
    const base = { ProductKey: productKey, DeviceName: deviceName, IotInstanceId: this.#instance };
    if (this.#form !== 'TaskStatus') {
      try {
        const rows = await this.#ask({ ...base, TaskStatusList: [...UNFINISHED_TASK_STATUSES] });
        this.#form = 'TaskStatusList';
        return rows;
      } catch (err) {
        if (this.#form === 'TaskStatusList' || !refusesForm(err)) throw err;
      }
    }
    const rows: TaskRow[] = [];
    for (const status of UNFINISHED_TASK_STATUSES) rows.push(...await this.#ask({ ...base, TaskStatus: status }));
    this.#form = 'TaskStatus';
    return rows;
  }

  async #ask(params: Record<string, unknown>): Promise<TaskRow[]> {
    return rowsOf(parseAnswer('ListOTAUnfinishedTaskByDevice', await this.#api.request('ListOTAUnfinishedTaskByDevice', params)).Data, 'SimpleOTATaskInfo');
  }
}
