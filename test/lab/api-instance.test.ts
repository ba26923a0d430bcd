// Lab modes a user picks at start: an enterprise instance (--instance-id) that refuses calls without
// its IotInstanceId, and the two readings of ListOTAUnfinishedTaskByDevice's status filter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { codeOf, createVerifyJob, addFirmware, errorOf, popClient } from '../helpers/lab-fixtures.js';
import { iotSdk, sdkCall, sdkClient, sdkCodeOf } from '../helpers/iot-sdk.js';

const PK = 'a1LabProd01';
const INSTANCE = 'iot-06z00lab0001';

describe('--instance-id: the lab as an enterprise instance', () => {
  let lab: Lab;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lab-instance-'));
    lab = await startLab({ deviceCount: 1, throttle: 'off', instanceId: INSTANCE, connectionFile: join(dir, 'lab.json') });
  });
  afterAll(async () => {
    await lab.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a call without IotInstanceId, or with another one, with iot.system.InstanceNotFound', async () => {
    const c = popClient(lab);
    const missing = await errorOf(c.call('QueryDeviceDetail', { ProductKey: PK, DeviceName: 'bench-01' }));
    expect(missing.code).toBe('iot.system.InstanceNotFound');
    expect(missing.message).toContain(INSTANCE);
    expect(await codeOf(c.call('QueryDeviceDetail', { ProductKey: PK, DeviceName: 'bench-01', IotInstanceId: 'iot-other' }))).toBe('iot.system.InstanceNotFound');
    expect(await sdkCodeOf(sdkCall(sdkClient(lab), 'queryOTAJob', new iotSdk.QueryOTAJobRequest({ jobId: 'job-x' })))).toBe('iot.system.InstanceNotFound');
  });

  it('serves a call that names the instance, through either SDK', async () => {
    const r = await popClient(lab).call<{ Success: boolean }>('QueryDeviceDetail', { ProductKey: PK, DeviceName: 'bench-01', IotInstanceId: INSTANCE });
    expect(r.Success).toBe(true);
    const v3 = await sdkCall(sdkClient(lab), 'queryDeviceDetail', new iotSdk.QueryDeviceDetailRequest({ productKey: PK, deviceName: 'bench-01', iotInstanceId: INSTANCE }));
    expect(v3.body.success).toBe(true);
  });

  it('names the instance in lab.json', async () => {
    const written = JSON.parse(await readFile(join(dir, 'lab.json'), 'utf8')) as { iotInstanceId?: string };
    expect(written.iotInstanceId).toBe(INSTANCE);
    expect(lab.connection.iotInstanceId).toBe(INSTANCE);
  });

  it('refuses an instance id that is not one', async () => {
    await expect(startLab({ instanceId: 'iot 06z/..' })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });
});

describe('ListOTAUnfinishedTaskByDevice status filter', () => {
  let lab: Lab;
  let strict: Lab;
  beforeAll(async () => {
    lab = await startLab({ deviceCount: 2, throttle: 'off' });
    strict = await startLab({ deviceCount: 2, throttle: 'off', unfinishedFilter: 'task-status-list' });
    for (const l of [lab, strict]) {
      const { firmwareId } = await addFirmware(l);
      await createVerifyJob(l, firmwareId, ['bench-01']);
    }
  });
  afterAll(async () => {
    await lab.close();
    await strict.close();
  });

  type Rows = { Data: { SimpleOTATaskInfo: { TaskStatus: string }[] } };

  it('takes the model\'s TaskStatus by default and refuses TaskStatusList.N as an unknown form', async () => {
    const c = popClient(lab);
    const queued = await c.call<Rows>('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'bench-01', TaskStatus: 'QUEUED' });
    expect(queued.Data.SimpleOTATaskInfo.map((t) => t.TaskStatus)).toEqual(['QUEUED']);
    const inProgress = await c.call<Rows>('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'bench-01', TaskStatus: 'IN_PROGRESS' });
    expect(inProgress.Data.SimpleOTATaskInfo).toHaveLength(0);
    expect((await c.call<Rows>('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'bench-01' })).Data.SimpleOTATaskInfo).toHaveLength(1);
    expect(await errorOf(c.call('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'bench-01', TaskStatusList: ['QUEUED'] })))
      .toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('TaskStatusList.N') });
    expect(await codeOf(c.call('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'bench-01', TaskStatus: 'SUCCEEDED' }))).toBe('InvalidParameter');
  });

  it('with --unfinished-filter task-status-list requires TaskStatusList.N and refuses TaskStatus', async () => {
    const c = popClient(strict);
    const queued = await c.call<Rows>('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'bench-01', TaskStatusList: ['QUEUED', 'NOTIFIED'] });
    expect(queued.Data.SimpleOTATaskInfo.map((t) => t.TaskStatus)).toEqual(['QUEUED']);
    expect(await errorOf(c.call('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'bench-01', TaskStatus: 'QUEUED' })))
      .toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('TaskStatus') });
    expect(await codeOf(c.call('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'bench-01' }))).toBe('MissingParameter');
  });
});
