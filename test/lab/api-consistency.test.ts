// Refusals that must leave the lab as it was (validate everything before changing anything), the
// product's own not-found code, and the admin token's independence from the API secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { addFirmware, codeOf, createVerifyJob, errorOf, popClient } from '../helpers/lab-fixtures.js';

const PK = 'a1LabProd01';
let lab: Lab;

beforeAll(async () => { lab = await startLab({ deviceCount: 2, throttle: 'off' }); });
afterAll(async () => { await lab.close(); });

type TaskRows = { Data: { SimpleOTATaskInfo: { TaskId: string; TaskStatus: string }[] } };

describe('ReupgradeOTATask checks every task before it changes any', () => {
  it('refuses the same TaskId twice with InvalidParameter and leaves the task and the job as they were', async () => {
    const c = popClient(lab);
    const { firmwareId } = await addFirmware(lab);
    const jobId = await createVerifyJob(lab, firmwareId, ['bench-01']);
    await c.call('CancelOTATaskByJob', { JobId: jobId, CancelQueuedTask: true, CancelNotifiedTask: true });
    const [task] = (await c.call<TaskRows>('ListOTATaskByJob', { JobId: jobId })).Data.SimpleOTATaskInfo;
    expect(task?.TaskStatus).toBe('CANCELED');
    const jobBefore = await c.call<{ Data: { JobStatus: string } }>('QueryOTAJob', { JobId: jobId });
    const fwBefore = await c.call<{ FirmwareInfo: { Status: number } }>('QueryOTAFirmware', { FirmwareId: firmwareId });

    const twice = await errorOf(c.call('ReupgradeOTATask', { JobId: jobId, TaskId: [task?.TaskId, task?.TaskId] }));
    expect(twice).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('TaskId') });
    expect((await c.call<TaskRows>('ListOTATaskByJob', { JobId: jobId })).Data.SimpleOTATaskInfo[0]?.TaskStatus).toBe('CANCELED');
    expect((await c.call<{ Data: { JobStatus: string } }>('QueryOTAJob', { JobId: jobId })).Data.JobStatus).toBe(jobBefore.Data.JobStatus);
    expect((await c.call<{ FirmwareInfo: { Status: number } }>('QueryOTAFirmware', { FirmwareId: firmwareId })).FirmwareInfo.Status).toBe(fwBefore.FirmwareInfo.Status);

    // Named once, the same task goes back to the queue.
    await c.call('ReupgradeOTATask', { JobId: jobId, TaskId: [task?.TaskId] });
    expect((await c.call<TaskRows>('ListOTATaskByJob', { JobId: jobId })).Data.SimpleOTATaskInfo[0]?.TaskStatus).toBe('QUEUED');
  });

  it('refuses ConfirmOTATask with the same TaskId twice the same way', async () => {
    const c = popClient(lab);
    const { firmwareId } = await addFirmware(lab);
    const jobId = await createVerifyJob(lab, firmwareId, ['bench-02'], { NeedConfirm: true });
    const [task] = (await c.call<TaskRows>('ListOTATaskByJob', { JobId: jobId })).Data.SimpleOTATaskInfo;
    expect(await codeOf(c.call('ConfirmOTATask', { TaskId: [task?.TaskId, task?.TaskId] }))).toBe('InvalidParameter');
    expect((await c.call<TaskRows>('ListOTATaskByJob', { JobId: jobId })).Data.SimpleOTATaskInfo[0]?.TaskStatus).toBe('CONFIRM');
  });
});

describe('QueryDeviceDetail', () => {
  it('answers an unknown product with the product\'s not-found code, not the device\'s', async () => {
    const c = popClient(lab);
    expect(await codeOf(c.call('QueryDeviceDetail', { ProductKey: 'a1NoSuchProd', DeviceName: 'bench-01' }))).toBe('iot.prod.NotExistedProduct');
    expect(await codeOf(c.call('QueryDeviceDetail', { ProductKey: PK, DeviceName: 'ghost-01' }))).toBe('iot.device.NotExistedDevice');
  });
});

describe('the admin token', () => {
  it('is a random value of its own: not derived from the AccessKey secret, different per lab, kept across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lab-admin-'));
    const keys = { accessKeyId: 'LTAIsameid', accessKeySecret: 'same-secret-for-both' };
    const a = await startLab({ deviceCount: 1, ...keys, stateDir: join(dir, 'a') });
    const b = await startLab({ deviceCount: 1, ...keys });
    const tokenA = a.connection.adminToken;
    try {
      expect(tokenA).not.toBe(b.connection.adminToken);
      for (const t of [tokenA, b.connection.adminToken]) {
        expect(t.length).toBeGreaterThanOrEqual(32);
        expect(t).not.toContain('samesecret');
        expect(t).not.toContain(keys.accessKeySecret);
      }
    } finally {
      await a.close();
      await b.close();
    }
    const again = await startLab({ deviceCount: 1, ...keys, stateDir: join(dir, 'a') });
    try {
      expect(again.connection.adminToken).toBe(tokenA);
    } finally {
      await again.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
