// A device that was never seen (UNACTIVE) when the verify job was created has no known source
// version. Its first inform after connecting is its current version, not a wrong report: the platform
// pushes the notice then (docs/platform.md § Task lifecycle: offline devices get the notice when they
// connect). Found by the README walkthrough, where the benches may start a moment after the job.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Task } from '../../lab/model.js';
import type { TaskStatus } from '../../shared/platform-rules.js';
import { observeLab } from '../helpers/observe-lab.js';
import { addFirmware, connectDevice, createVerifyJob, popClient, taskReaches, type TestDevice } from '../helpers/lab-fixtures.js';

let lab: Lab;
const devices: TestDevice[] = [];

/** The task once it is in `status` or any final status, so a wrong turn fails fast instead of hanging.
 *  Woken by what the platform forwards about the device (its version report is forwarded after the
 *  lab handled it, so the task has moved by then). */
async function taskSettles(deviceName: string, status: TaskStatus): Promise<Task> {
  const stops = new Set<TaskStatus>([status, 'SUCCEEDED', 'FAILED', 'CANCELED']);
  const obs = await observeLab(lab);
  for (;;) {
    const t = [...lab.store.state.tasks].reverse().find((x) => x.deviceName === deviceName);
    if (t && stops.has(t.status)) return t;
    await obs.next((m) => 'deviceName' in m && m.deviceName === deviceName);
  }
}

describe('lab OTA engine: a device that connects after the job was created', () => {
  beforeEach(async () => { lab = await startLab({ deviceCount: 2, throttle: 'off' }); });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.client.endAsync(true)));
    await lab.close();
  });

  it('takes its first inform as the source version, gets the notice and can succeed', async () => {
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    const jobId = await createVerifyJob(lab, firmwareId, ['bench-01']);
    expect((await taskReaches(lab, 'bench-01', 'QUEUED')).srcVersion).toBe('');

    const d = await connectDevice(lab, 'bench-01');
    devices.push(d);
    await d.publish('inform', { id: 1, params: { version: '1.0.0' } });
    const t = await taskSettles('bench-01', 'NOTIFIED');
    expect({ status: t.status, desc: t.taskDesc }).toEqual({ status: 'NOTIFIED', desc: '' });
    const notice = await d.next('/ota/device/upgrade/a1LabProd01/bench-01');
    expect(notice).toMatchObject({ data: { version: '2.0.0' } });
    const listed = await popClient(lab).call<{ Data: { SimpleOTATaskInfo: { DeviceName: string; SrcVersion: string; TaskStatus: string }[] } }>('ListOTATaskByJob', { JobId: jobId });
    expect(listed.Data.SimpleOTATaskInfo).toEqual([expect.objectContaining({ DeviceName: 'bench-01', SrcVersion: '1.0.0', TaskStatus: 'NOTIFIED' })]);

    await d.publish('progress', { id: 2, params: { step: '100', desc: '' } });
    await d.publish('inform', { id: 3, params: { version: '2.0.0' } });
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
  });

  it('takes the first version as the source even after progress: notice at connect, progress, old version, new version', async () => {
    // A device we did not write may report progress for the notice it got at connect before its version
    // report; the task is then IN_PROGRESS with no source version, and the old version is no wrong report.
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    const jobId = await createVerifyJob(lab, firmwareId, ['bench-01']);
    const tasks = async () => (await popClient(lab).call<{ Data: { SimpleOTATaskInfo: { DeviceName: string; SrcVersion: string; TaskStatus: string; TaskDesc: string }[] } }>('ListOTATaskByJob', { JobId: jobId })).Data.SimpleOTATaskInfo;
    expect(await tasks()).toEqual([expect.objectContaining({ DeviceName: 'bench-01', SrcVersion: '', TaskStatus: 'QUEUED' })]);

    const d = await connectDevice(lab, 'bench-01');
    devices.push(d);
    // Pushed at connect: the device never subscribed to anything and never reported a version.
    expect(await d.next('/ota/device/upgrade/a1LabProd01/bench-01')).toMatchObject({ data: { version: '2.0.0' } });
    await d.publish('progress', { id: 1, params: { step: '0', desc: '' } });
    await taskReaches(lab, 'bench-01', 'IN_PROGRESS');
    expect(await tasks()).toEqual([expect.objectContaining({ SrcVersion: '', TaskStatus: 'IN_PROGRESS' })]);

    const obs = await observeLab(lab);
    const versionHandled = obs.next((m) => m.kind === 'version' && m.deviceName === 'bench-01');
    await d.publish('inform', { id: 2, params: { version: '1.0.0' } });
    await versionHandled;
    expect(await tasks()).toEqual([expect.objectContaining({ SrcVersion: '1.0.0', TaskStatus: 'IN_PROGRESS', TaskDesc: '' })]);

    await d.publish('progress', { id: 3, params: { step: '100', desc: '' } });
    await d.publish('inform', { id: 4, params: { version: '2.0.0' } });
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect(await tasks()).toEqual([expect.objectContaining({ SrcVersion: '1.0.0', TaskStatus: 'SUCCEEDED' })]);
    const fw = await popClient(lab).call<{ FirmwareInfo: { Status: number } }>('QueryOTAFirmware', { FirmwareId: firmwareId });
    expect(fw.FirmwareInfo.Status).toBe(1);
  });

  it('still fails a started task whose device reports a third version', async () => {
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-02']);
    const d = await connectDevice(lab, 'bench-02');
    devices.push(d);
    await d.publish('inform', { id: 1, params: { version: '1.0.0' } });
    expect((await taskSettles('bench-02', 'NOTIFIED')).status).toBe('NOTIFIED');
    await d.next('/ota/device/upgrade/a1LabProd01/bench-02');
    await d.publish('progress', { id: 2, params: { step: '10', desc: 'downloading' } });
    await taskReaches(lab, 'bench-02', 'IN_PROGRESS');
    await d.publish('inform', { id: 3, params: { version: '1.5.0' } });
    expect((await taskReaches(lab, 'bench-02', 'FAILED')).taskDesc).toBe('report version is not conform');
  });
});
