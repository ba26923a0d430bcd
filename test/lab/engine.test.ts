// Raw mqtt.js devices drive lab tasks to every final state (docs/platform.md § Task lifecycle).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import {
  addFirmware, connectDevice, createVerifyJob, deviceStatus, popClient, taskReaches, type TestDevice,
} from '../helpers/lab-fixtures.js';

let lab: Lab;
const devices: TestDevice[] = [];

async function bench(name: string, version = '1.0.0'): Promise<TestDevice> {
  const d = await connectDevice(lab, name);
  devices.push(d);
  await deviceStatus(lab, name);
  await d.publish('inform', { id: 1, params: { version } });
  return d;
}

async function firmwareStatus(firmwareId: string): Promise<number> {
  const r = await popClient(lab).call<{ FirmwareInfo: { Status: number } }>('QueryOTAFirmware', { FirmwareId: firmwareId });
  return r.FirmwareInfo.Status;
}

describe('lab OTA engine over MQTT', () => {
  beforeEach(async () => { lab = await startLab({ deviceCount: 4, throttle: 'off' }); });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.client.endAsync(true)));
    await lab.close();
  });

  it('takes a task from NOTIFIED through IN_PROGRESS to SUCCEEDED on inform, without the device subscribing', async () => {
    const d = await bench('bench-01');
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    const jobId = await createVerifyJob(lab, firmwareId, ['bench-01']);
    const notice = await d.next('/ota/device/upgrade/a1LabProd01/bench-01');
    expect(notice).toMatchObject({ code: '1000', message: 'success', data: { version: '2.0.0', signMethod: 'SHA256' } });
    expect(typeof notice.id).toBe('number');
    expect((notice.data as Record<string, unknown>).module).toBeUndefined();
    expect(String((notice.data as Record<string, unknown>).url)).toMatch(/Expires=\d+&OSSAccessKeyId=.+&Signature=/);
    expect((await taskReaches(lab, 'bench-01', 'NOTIFIED')).taskId).toBeTruthy();
    await d.publish('progress', { id: 2, params: { step: '50', desc: 'downloading' } });
    const t = await taskReaches(lab, 'bench-01', 'IN_PROGRESS');
    expect(t.progress).toBe(50);
    // Step 100 alone is not success: only the inform of the destination version is.
    await d.publish('progress', { id: 3, params: { step: '100', desc: 'done' } });
    await d.publish('inform', { id: 4, params: { version: '2.0.0' } });
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect(await firmwareStatus(firmwareId)).toBe(1);
    const job = await popClient(lab).call<{ Data: { JobStatus: string } }>('QueryOTAJob', { JobId: jobId });
    expect(job.Data.JobStatus).toBe('COMPLETED');
    const detail = await popClient(lab).call<{ Data: { Status: string; FirmwareVersion: string } }>('QueryDeviceDetail', { ProductKey: 'a1LabProd01', DeviceName: 'bench-01' });
    expect(detail.Data).toMatchObject({ Status: 'ONLINE', FirmwareVersion: '2.0.0' });
  });

  it.each([
    ['-1', 'upgrade failed'], ['-2', 'download failed'], ['-3', 'verify failed'], ['-4', 'burn failed'],
  ])('fails the task on step %s with its desc', async (step, fallback) => {
    const d = await bench('bench-02');
    const { firmwareId } = await addFirmware(lab);
    await createVerifyJob(lab, firmwareId, ['bench-02']);
    await d.next('/upgrade/a1LabProd01/bench-02');
    await d.publish('progress', { id: 2, params: { step, desc: `bench says ${step}` } });
    expect((await taskReaches(lab, 'bench-02', 'FAILED')).taskDesc).toBe(`bench says ${step}`);
    expect(await firmwareStatus(firmwareId)).toBe(3);
    // Without a desc, the lab fills in the code's meaning.
    const r = await popClient(lab).call<{ Data: { SimpleOTATaskInfo: { TaskId: string }[] } }>('ListOTATaskByJob', { JobId: lab.store.state.jobs[0]?.jobId });
    await popClient(lab).call('ReupgradeOTATask', { JobId: lab.store.state.jobs[0]?.jobId, TaskId: [r.Data.SimpleOTATaskInfo[0]?.TaskId] });
    await d.next('/upgrade/a1LabProd01/bench-02');
    expect(await firmwareStatus(firmwareId)).toBe(2);
    await d.publish('progress', { id: 3, params: { step } });
    expect((await taskReaches(lab, 'bench-02', 'FAILED')).taskDesc).toBe(fallback);
  });

  it('fails a task whose device reports a version that is neither source nor destination', async () => {
    const d = await bench('bench-03');
    const { firmwareId } = await addFirmware(lab);
    await createVerifyJob(lab, firmwareId, ['bench-03']);
    await d.next('/upgrade/a1LabProd01/bench-03');
    await d.publish('inform', { id: 9, params: { version: '9.9.9' } });
    expect((await taskReaches(lab, 'bench-03', 'FAILED')).taskDesc).toBe('report version is not conform');
  });

  it('notifies an offline device when it connects, and answers firmware/get', async () => {
    const { firmwareId } = await addFirmware(lab, { version: '3.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-04']);
    expect(lab.store.state.tasks[0]?.status).toBe('QUEUED');
    const d = await connectDevice(lab, 'bench-04');
    devices.push(d);
    const notice = await d.next('/upgrade/a1LabProd01/bench-04');
    expect((notice.data as { version: string }).version).toBe('3.0.0');
    await d.publish('firmwareGet', { id: '55', version: '1.0', params: {}, method: 'thing.ota.firmware.get' });
    const reply = await d.next('/thing/ota/firmware/get_reply');
    expect(reply).toMatchObject({ id: '55', code: 200, data: { version: '3.0.0' } });
  });

  it('keeps a NeedPush=false task queued until the device asks with firmware/get', async () => {
    const d = await bench('bench-01');
    const { firmwareId } = await addFirmware(lab);
    await createVerifyJob(lab, firmwareId, ['bench-01'], { NeedPush: false });
    await d.publish('firmwareGet', { id: 7, version: '1.0', params: {}, method: 'thing.ota.firmware.get' });
    const reply = await d.next('/get_reply');
    expect(reply).toMatchObject({ id: 7, code: 200, data: { version: '2.0.0' } });
    expect(d.messages.filter((m) => m.topic.includes('/upgrade/'))).toHaveLength(0);
    await taskReaches(lab, 'bench-01', 'NOTIFIED');
  });

  it('answers firmware/get with empty data when nothing is pending', async () => {
    const d = await bench('bench-01');
    await d.publish('firmwareGet', { id: 8, version: '1.0', params: { module: 'MCU' }, method: 'thing.ota.firmware.get' });
    expect(await d.next('/get_reply')).toEqual({ id: 8, code: 200, data: {} });
  });

  it('delivers each notice once to a device that also subscribes itself', async () => {
    const d = await bench('bench-01');
    await d.client.subscribeAsync('/ota/device/upgrade/a1LabProd01/bench-01', { qos: 1 });
    const { firmwareId } = await addFirmware(lab);
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await d.next('/upgrade/a1LabProd01/bench-01');
    // A firmware/get round trip orders after any duplicate the broker could still deliver.
    await d.publish('firmwareGet', { id: 1, params: {} });
    await d.next('/get_reply');
    expect(d.messages.filter((m) => m.topic.includes('/upgrade/'))).toHaveLength(1);
  });

  it('sends each notice spelling the agent must accept', async () => {
    const d = await bench('bench-01');
    lab.engine.noticeStyle = { md5Spelling: 'MD5', sha256Spelling: 'Sha256', idType: 'string', module: 'always', files: 'always' };
    const { firmwareId } = await addFirmware(lab, { signMethod: 'MD5' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    const n = await d.next('/upgrade/a1LabProd01/bench-01');
    const data = n.data as Record<string, unknown>;
    expect(typeof n.id).toBe('string');
    expect(data).toMatchObject({ signMethod: 'MD5', module: 'default' });
    expect(data.md5).toBe(data.sign);
    expect(data.url).toBeUndefined();
    expect((data.files as { fileUrl: string }[])[0]?.fileUrl).toMatch(/Signature=/);
  });
});

describe('lab task timeout with an injected clock', () => {
  it('fails an unfinished task TimeoutInMinutes after its first progress, not after creation', async () => {
    const clock = new ManualClock(Date.now());
    lab = await startLab({ deviceCount: 1, throttle: 'off' }, { clock });
    try {
      const d = await connectDevice(lab, 'bench-01');
      devices.push(d);
      await deviceStatus(lab, 'bench-01');
      await d.publish('inform', { id: 1, params: { version: '1.0.0' } });
      const { firmwareId } = await addFirmware(lab);
      await createVerifyJob(lab, firmwareId, ['bench-01'], { TimeoutInMinutes: 2 });
      await d.next('/upgrade/a1LabProd01/bench-01');
      clock.advance(10 * 60_000); // no progress yet: the timeout has not started
      expect(lab.store.state.tasks[0]?.status).toBe('NOTIFIED');
      await d.publish('progress', { id: 2, params: { step: '10' } });
      await taskReaches(lab, 'bench-01', 'IN_PROGRESS');
      clock.advance(119_000);
      expect(lab.store.state.tasks[0]?.status).toBe('IN_PROGRESS');
      clock.advance(1_000);
      const t = await taskReaches(lab, 'bench-01', 'FAILED');
      expect(t.taskDesc).toMatch(/timeout/);
      expect(lab.store.state.firmware[0]?.status).toBe(3);
    } finally {
      await Promise.all(devices.splice(0).map((x) => x.client.endAsync(true)));
      await lab.close();
    }
  });
});
