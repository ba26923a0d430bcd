// The state's records by key: a device by product and name or by IotId, a device's tasks, a job's
// tasks, a task, a job or a firmware by id. Each is a map kept beside the state's arrays (array-index.ts);
// the arrays stay the one source of truth, in the order the list APIs page them.
import { ArrayIndex } from './array-index.js';
import type { Device, Firmware, Job, LabState, Task } from './model.js';

const deviceKey = (productKey: string, deviceName: string) => `${productKey}/${deviceName}`;

export class StateLookups {
  readonly #state: LabState;
  readonly #devices = new ArrayIndex<Device>((d) => [deviceKey(d.productKey, d.deviceName), `iot:${d.iotId}`]);
  readonly #tasksByDevice = new ArrayIndex<Task>((t) => [deviceKey(t.productKey, t.deviceName)]);
  readonly #tasksByJob = new ArrayIndex<Task>((t) => [t.jobId]);
  readonly #tasks = new ArrayIndex<Task>((t) => [t.taskId]);
  readonly #jobs = new ArrayIndex<Job>((j) => [j.jobId]);
  readonly #firmware = new ArrayIndex<Firmware>((f) => [f.firmwareId]);

  constructor(state: LabState) {
    this.#state = state;
  }

  device(productKey: string, deviceName: string): Device | undefined {
    return this.#devices.first(this.#state.devices, deviceKey(productKey, deviceName));
  }

  deviceByIotId(iotId: string): Device | undefined {
    return this.#devices.first(this.#state.devices, `iot:${iotId}`);
  }

  /** Every task of one device, finished or not, oldest first. */
  tasksOfDevice(productKey: string, deviceName: string): Task[] {
    return this.#tasksByDevice.all(this.#state.tasks, deviceKey(productKey, deviceName));
  }

  tasksOfJob(jobId: string): Task[] {
    return this.#tasksByJob.all(this.#state.tasks, jobId);
  }

  task(taskId: string): Task | undefined {
    return this.#tasks.first(this.#state.tasks, taskId);
  }

  job(jobId: string): Job | undefined {
    return this.#jobs.first(this.#state.jobs, jobId);
  }

  firmware(firmwareId: string): Firmware | undefined {
    return this.#firmware.first(this.#state.firmware, firmwareId);
  }
}
