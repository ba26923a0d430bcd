// The lab's OpenAPI, driven by the official client @alicloud/pop-core, unmodified.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../shared/clock.js';
import { rpcTimestamp, signRpc } from '../../shared/api-signing.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { addFirmware, codeOf, connectDevice, createVerifyJob, deviceStatus, errorOf, popClient, taskReaches } from '../helpers/lab-fixtures.js';

let lab: Lab;
const PK = 'a1LabProd01';

beforeAll(async () => { lab = await startLab({ deviceCount: 12, throttle: 'off' }); });
afterAll(async () => { await lab.close(); });

/** A raw signed request, for what pop-core cannot be made to send (replayed nonces, old timestamps). */
async function rawCall(params: Record<string, string>, secret = lab.connection.accessKeySecret): Promise<{ status: number; body: Record<string, unknown> }> {
  const all: Record<string, string> = {
    Format: 'JSON', Version: '2018-01-20', AccessKeyId: lab.connection.accessKeyId, SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0', SignatureNonce: randomUUID(), Timestamp: rpcTimestamp(Date.now()), RegionId: 'cn-shanghai', ...params,
  };
  all.Signature = signRpc('POST', all, secret);
  const res = await fetch(`${lab.connection.apiEndpoint}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(all).toString() });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('gateway checks', () => {
  it('answers GET and POST alike, in the platform envelope', async () => {
    const post = await popClient(lab).call<Record<string, unknown>>('ListOTAFirmware', { PageSize: 5 });
    const get = await popClient(lab).call<Record<string, unknown>>('ListOTAFirmware', { PageSize: 5 }, 'GET');
    for (const r of [post, get]) {
      expect(r.Success).toBe(true);
      expect(typeof r.RequestId).toBe('string');
      expect(r).toMatchObject({ PageSize: 5, CurrentPage: 1 });
    }
  });

  it('refuses a wrong secret (SignatureDoesNotMatch) and an unknown AccessKeyId', async () => {
    expect(await codeOf(popClient(lab, { accessKeySecret: 'wrong' }).call('ListOTAFirmware'))).toBe('SignatureDoesNotMatch');
    expect(await codeOf(popClient(lab, { accessKeyId: 'LTAInobody' }).call('ListOTAFirmware'))).toBe('InvalidAccessKeyId.NotFound');
  });

  it('refuses a replayed nonce, an expired or malformed timestamp, a missing parameter and an unknown action', async () => {
    const nonce = randomUUID();
    expect((await rawCall({ Action: 'ListOTAFirmware', SignatureNonce: nonce })).body.Success).toBe(true);
    expect((await rawCall({ Action: 'ListOTAFirmware', SignatureNonce: nonce })).body.Code).toBe('SignatureNonceUsed');
    expect((await rawCall({ Action: 'ListOTAFirmware', Timestamp: rpcTimestamp(Date.now() - 16 * 60_000) })).body.Code).toBe('InvalidTimeStamp.Expired');
    expect((await rawCall({ Action: 'ListOTAFirmware', Timestamp: rpcTimestamp(Date.now() + 16 * 60_000) })).body.Code).toBe('InvalidTimeStamp.Expired');
    expect((await rawCall({ Action: 'ListOTAFirmware', Timestamp: 'yesterday' })).body.Code).toBe('InvalidTimeStamp.Format');
    const missing = await rawCall({ Action: 'ListOTAFirmware', SignatureNonce: '' });
    expect(missing).toMatchObject({ status: 400, body: { Code: 'MissingParameter', Success: false } });
    expect(String(missing.body.ErrorMessage)).toContain('SignatureNonce');
    expect(await codeOf(popClient(lab).call('DeleteEverything'))).toBe('InvalidAction.NotFound');
  });

  it('answers a non-form body and a wrong path with a clear 4xx, never 500', async () => {
    const res = await fetch(`${lab.connection.apiEndpoint}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"Action":"x"}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { Code: string }).Code).toBe('InvalidParameter');
    expect((await fetch(`${lab.connection.apiEndpoint}/nope`)).status).toBe(404);
  });

  it('throttles per API with Throttling.User and lets calls through again after a second', async () => {
    const clock = new ManualClock(Date.now());
    const tight = await startLab({ deviceCount: 1, throttle: { QueryOTAJob: 2 } }, { clock });
    try {
      const c = popClient(tight);
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push(await codeOf(c.call('QueryOTAJob', { JobId: 'nope' })));
      expect(codes).toEqual(['iot.ota.InvalidJobId', 'iot.ota.InvalidJobId', 'Throttling.User', 'Throttling.User']);
      // Other APIs have their own budget.
      expect(await codeOf(c.call('QueryOTAFirmware', { FirmwareId: 'nope' }))).toBe('iot.ota.FirmwareNotFound');
      clock.advance(1000);
      expect(await codeOf(c.call('QueryOTAJob', { JobId: 'nope' }))).toBe('iot.ota.InvalidJobId');
    } finally {
      await tight.close();
    }
  });
});

describe('firmware actions', () => {
  it('creates, queries and lists firmware; refuses bad parameters naming them', async () => {
    const { firmwareId } = await addFirmware(lab, { version: '5.0.0', module: 'MCU', signMethod: 'MD5', name: 'fw-five' });
    const q = await popClient(lab).call<{ FirmwareInfo: Record<string, unknown> }>('QueryOTAFirmware', { FirmwareId: firmwareId });
    expect(q.FirmwareInfo).toMatchObject({ FirmwareId: firmwareId, Status: 0, ModuleName: 'MCU', DestVersion: '5.0.0', SignMethod: 'MD5', ProductKey: PK });
    const c = popClient(lab);
    const base = { ProductKey: PK, FirmwareName: 'x-1', DestVersion: '1.0', FirmwareUrl: 'https://x.invalid/f', FirmwareSign: 'a'.repeat(32), FirmwareSize: 10 };
    expect(await errorOf(c.call('CreateOTAFirmware', { ...base, DestVersion: 'bad version!' }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('DestVersion') });
    expect(await errorOf(c.call('CreateOTAFirmware', { ...base, FirmwareSign: 'zz' }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('FirmwareSign') });
    expect(await errorOf(c.call('CreateOTAFirmware', { ...base, SignMethod: 'SHA256' }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('64 hex') });
    expect(await errorOf(c.call('CreateOTAFirmware', { ...base, FirmwareSize: -1 }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('FirmwareSize') });
    expect(await errorOf(c.call('CreateOTAFirmware', { ...base, FirmwareUrl: undefined }))).toMatchObject({ code: 'MissingParameter', message: expect.stringContaining('FirmwareUrl') });
    expect(await errorOf(c.call('CreateOTAFirmware', { ...base, Type: 1 }))).toMatchObject({ code: 'MissingParameter', message: expect.stringContaining('SrcVersion') });
    expect(await codeOf(c.call('CreateOTAFirmware', { ...base, ProductKey: 'a1Nobody' }))).toBe('iot.prod.NotExistedProduct');
    expect(await codeOf(c.call('CreateOTAFirmware', { ...base, FirmwareName: 'fw-five' }))).toBe('iot.ota.FirmwareNameExisted');
    expect(await codeOf(c.call('QueryOTAFirmware', { FirmwareId: 'fw-nope' }))).toBe('iot.ota.FirmwareNotFound');
    const multi = await c.call<{ Data: { FirmwareId: string } }>('CreateOTAFirmware', {
      ProductKey: PK, FirmwareName: 'multi', DestVersion: '7', SignMethod: 'SHA256',
      MultiFiles: [{ Name: 'a.bin', Size: 3, Url: 'https://x.invalid/a', SignValue: 'b'.repeat(64) }, { Name: 'b.bin', Size: 4, Url: 'https://x.invalid/b', SignValue: 'c'.repeat(64) }],
    });
    const mq = await c.call<{ FirmwareInfo: { MultiFiles: unknown[]; FirmwareSize: number } }>('QueryOTAFirmware', { FirmwareId: multi.Data.FirmwareId });
    expect(mq.FirmwareInfo.MultiFiles).toHaveLength(2);
    expect(mq.FirmwareInfo.FirmwareSize).toBe(7);
    const page = await c.call<{ Total: number; PageCount: number; FirmwareInfo: { SimpleFirmwareInfo: unknown[] } }>('ListOTAFirmware', { PageSize: 1, CurrentPage: 2 });
    expect(page.FirmwareInfo.SimpleFirmwareInfo).toHaveLength(1);
    expect(page.PageCount).toBe(page.Total);
    expect(await errorOf(c.call('ListOTAFirmware', { PageSize: 101 }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('PageSize') });
  });
});

describe('CreateOTAVerifyJob rules', () => {
  it('refuses each broken rule with a clear code', async () => {
    const c = popClient(lab);
    const { firmwareId } = await addFirmware(lab, { version: '8.0.0' });
    const job = (extra: Record<string, unknown>) => c.call('CreateOTAVerifyJob', { ProductKey: PK, FirmwareId: firmwareId, TargetDeviceName: ['bench-01'], ...extra });
    const eleven = Array.from({ length: 11 }, (_, i) => `bench-${String(i + 1).padStart(2, '0')}`);
    expect(await errorOf(job({ TargetDeviceName: eleven }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('at most 10') });
    expect(await codeOf(job({ TargetDeviceName: undefined }))).toBe('MissingParameter');
    expect(await codeOf(job({ TargetDeviceName: ['bench-01', 'bench-01'] }))).toBe('iot.ota.RepeatedDeviceName');
    expect(await errorOf(job({ TargetDeviceName: ['bench-01', 'ghost-99'] }))).toMatchObject({ code: 'iot.device.NotExistedDevice', message: expect.stringContaining('ghost-99') });
    expect(await codeOf(job({ TimeoutInMinutes: 0 }))).toBe('iot.ota.InvalidTimeout');
    expect(await codeOf(job({ TimeoutInMinutes: 1441 }))).toBe('iot.ota.InvalidTimeout');
    expect(await codeOf(job({ TimeoutInMinutes: 'soon' }))).toBe('iot.ota.InvalidTimeout');
    expect(await codeOf(job({ FirmwareId: 'fw-nope' }))).toBe('iot.ota.FirmwareNotFound');
    expect(await codeOf(job({ ProductKey: 'a1Nobody' }))).toBe('iot.prod.NotExistedProduct');
    const tags = Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    expect(await errorOf(job({ Tag: tags }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('Tag') });
    expect(await errorOf(job({ Tag: [{ Key: 'bad key!', Value: 'v' }] }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('Tag.1.Key') });
    expect(await errorOf(job({ NeedPush: 'maybe' }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('NeedPush') });
    expect(await errorOf(job({ DownloadProtocol: 'FTP' }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('DownloadProtocol') });
    const noVerify = await addFirmware(lab, { needToVerify: false });
    expect(await codeOf(job({ FirmwareId: noVerify.firmwareId }))).toBe('iot.ota.FirmwareNoNeedVerify');
    // A firmware of another product.
    lab.store.state.products.push({ productKey: 'a1OtherProd', productName: 'other' });
    const other = lab.store.state.firmware.find((f) => f.firmwareId === noVerify.firmwareId);
    if (other) other.productKey = 'a1OtherProd';
    expect(await codeOf(job({ FirmwareId: noVerify.firmwareId }))).toBe('iot.ota.FirmwareProductNotMatch');

    const jobId = await createVerifyJob(lab, firmwareId, ['bench-01', 'bench-02'], { Tag: [{ Key: 'build', Value: '42' }], TimeoutInMinutes: 30 });
    expect(await codeOf(job({}))).toBe('iot.ota.FirmwareVerifying');
    const second = await addFirmware(lab, { version: '8.0.1' });
    expect(await errorOf(job({ FirmwareId: second.firmwareId, TargetDeviceName: ['bench-02'] }))).toMatchObject({ code: 'iot.ota.TooManyOtaTask', message: expect.stringContaining('bench-02') });

    const q = await c.call<{ Data: Record<string, unknown> }>('QueryOTAJob', { JobId: jobId });
    expect(q.Data).toMatchObject({ JobId: jobId, JobStatus: 'IN_PROGRESS', JobType: 'VERIFY_FIRMWARE', FirmwareId: firmwareId, TimeoutInMinutes: 30, NeedPush: true, DownloadProtocol: 'HTTPS' });
    const byFw = await c.call<{ Data: { SimpleOTAJobInfo: { JobId: string }[] } }>('ListOTAJobByFirmware', { FirmwareId: firmwareId });
    expect(byFw.Data.SimpleOTAJobInfo.map((j) => j.JobId)).toEqual([jobId]);
    expect(await codeOf(c.call('QueryOTAJob', { JobId: 'job-nope' }))).toBe('iot.ota.InvalidJobId');

    const unfinished = await c.call<{ Data: { SimpleOTATaskInfo: { TaskStatus: string }[] } }>('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'bench-01' });
    expect(unfinished.Data.SimpleOTATaskInfo.map((t) => t.TaskStatus)).toEqual(['QUEUED']);

    // Paging and filters of ListOTATaskByJob.
    const p1 = await c.call<{ Total: number; PageCount: number; Data: { SimpleOTATaskInfo: { DeviceName: string; Progress: string }[] } }>('ListOTATaskByJob', { JobId: jobId, PageSize: 1 });
    expect(p1).toMatchObject({ Total: 2, PageCount: 2 });
    expect(p1.Data.SimpleOTATaskInfo[0]?.Progress).toBe('0.00');
    const filtered = await c.call<{ Total: number }>('ListOTATaskByJob', { JobId: jobId, DeviceNames: ['bench-02'], TaskStatus: 'QUEUED' });
    expect(filtered.Total).toBe(1);
    expect(await errorOf(c.call('ListOTATaskByJob', { JobId: jobId, TaskStatus: 'DONE' }))).toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('TaskStatus') });

    // Cancel: options required, then the queued tasks go, the job ends, the firmware is not verified.
    expect(await codeOf(c.call('CancelOTATaskByJob', { JobId: jobId }))).toBe('iot.ota.CancelOptionRequired');
    await c.call('CancelOTATaskByJob', { JobId: jobId, CancelQueuedTask: true });
    const after = await c.call<{ Data: { JobStatus: string } }>('QueryOTAJob', { JobId: jobId });
    expect(after.Data.JobStatus).toBe('CANCELED');
    expect(await codeOf(c.call('CancelOTATaskByJob', { JobId: jobId, CancelQueuedTask: true }))).toBe('iot.ota.JobHasFinished');
    const fw = await c.call<{ FirmwareInfo: { Status: number } }>('QueryOTAFirmware', { FirmwareId: firmwareId });
    expect(fw.FirmwareInfo.Status).toBe(3);

    // ReupgradeOTATask takes the canceled tasks back.
    const tasks = await c.call<{ Data: { SimpleOTATaskInfo: { TaskId: string; TaskStatus: string }[] } }>('ListOTATaskByJob', { JobId: jobId });
    expect(tasks.Data.SimpleOTATaskInfo.every((t) => t.TaskStatus === 'CANCELED')).toBe(true);
    expect(await codeOf(c.call('ReupgradeOTATask', { JobId: jobId, TaskId: ['task-nope'] }))).toBe('iot.ota.InvalidTaskId');
    await c.call('ReupgradeOTATask', { JobId: jobId, TaskId: tasks.Data.SimpleOTATaskInfo.map((t) => t.TaskId) });
    expect((await c.call<{ Data: { JobStatus: string } }>('QueryOTAJob', { JobId: jobId })).Data.JobStatus).toBe('IN_PROGRESS');
    await c.call('CancelOTATaskByDevice', { FirmwareId: firmwareId, ProductKey: PK, DeviceName: ['bench-01', 'bench-02'] });
    expect((await c.call<{ Data: { JobStatus: string } }>('QueryOTAJob', { JobId: jobId })).Data.JobStatus).toBe('CANCELED');
  });

  it('holds NeedConfirm tasks in CONFIRM until ConfirmOTATask, and skips a device already on the destination version', async () => {
    const c = popClient(lab);
    const d = await connectDevice(lab, 'bench-10');
    try {
      await deviceStatus(lab, 'bench-10');
      await d.publish('inform', { id: 1, params: { version: '9.0.0' } });
      const already = await connectDevice(lab, 'bench-11');
      await deviceStatus(lab, 'bench-11');
      await already.publish('inform', { id: 1, params: { version: '9.1.0' } });
      await already.publish('firmwareGet', { id: 2, params: {} });
      await already.next('/get_reply');
      await already.client.endAsync(true);
      const { firmwareId } = await addFirmware(lab, { version: '9.1.0' });
      const jobId = await createVerifyJob(lab, firmwareId, ['bench-10', 'bench-11'], { NeedConfirm: true });
      const list = await c.call<{ Data: { SimpleOTATaskInfo: { TaskId: string; DeviceName: string; TaskStatus: string }[] } }>('ListOTATaskByJob', { JobId: jobId });
      expect(list.Data.SimpleOTATaskInfo.map((t) => [t.DeviceName, t.TaskStatus])).toEqual([['bench-10', 'CONFIRM']]);
      expect(d.messages.filter((m) => m.topic.includes('/upgrade/'))).toHaveLength(0);
      expect(await codeOf(c.call('ConfirmOTATask', { TaskId: ['task-nope'] }))).toBe('iot.ota.InvalidTaskId');
      await c.call('ConfirmOTATask', { TaskId: [list.Data.SimpleOTATaskInfo[0]?.TaskId] });
      await d.next('/upgrade/a1LabProd01/bench-10');
      await taskReaches(lab, 'bench-10', 'NOTIFIED');
      expect(await codeOf(c.call('ConfirmOTATask', { TaskId: [list.Data.SimpleOTATaskInfo[0]?.TaskId] }))).toBe('iot.ota.InvalidTaskId');
    } finally {
      await d.client.endAsync(true);
    }
  });

  it('answers QueryDeviceDetail by name or IotId, and refuses an unknown device', async () => {
    const c = popClient(lab);
    const byName = await c.call<{ Data: { IotId: string; Status: string } }>('QueryDeviceDetail', { ProductKey: PK, DeviceName: 'bench-12' });
    expect(byName.Data.Status).toBe('UNACTIVE');
    const byId = await c.call<{ Data: { DeviceName: string } }>('QueryDeviceDetail', { IotId: byName.Data.IotId });
    expect(byId.Data.DeviceName).toBe('bench-12');
    expect(await codeOf(c.call('QueryDeviceDetail', { ProductKey: PK, DeviceName: 'ghost-01' }))).toBe('iot.device.NotExistedDevice');
    expect(await codeOf(c.call('ListOTAUnfinishedTaskByDevice', { ProductKey: PK, DeviceName: 'ghost-01' }))).toBe('iot.device.NotExistedDevice');
    expect(await errorOf(c.call('QueryDeviceDetail', { ProductKey: PK }))).toMatchObject({ code: 'MissingParameter', message: expect.stringContaining('DeviceName') });
  });

  it('answers BatchQueryDeviceDetail for up to 100 devices, leaving unknown names out', async () => {
    const c = popClient(lab);
    type Row = { DeviceName: string; Status: string; FirmwareVersion: string; DeviceSecret: string };
    const r = await c.call<{ Data: { Data: Row[] } }>('BatchQueryDeviceDetail', { ProductKey: PK, 'DeviceName.1': 'bench-12', 'DeviceName.2': 'ghost-01', 'DeviceName.3': 'bench-11' });
    expect(r.Data.Data.map((d) => d.DeviceName)).toEqual(['bench-12', 'bench-11']);
    expect(r.Data.Data[0]).toMatchObject({ Status: 'UNACTIVE', FirmwareVersion: '' });
    expect(r.Data.Data[0]?.DeviceSecret).toBe(lab.connection.devices.find((d) => d.deviceName === 'bench-12')?.deviceSecret);
    expect(await errorOf(c.call('BatchQueryDeviceDetail', { ProductKey: PK }))).toMatchObject({ code: 'MissingParameter', message: expect.stringContaining('DeviceName.N') });
    const tooMany = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`DeviceName.${i + 1}`, `bench-${i}`]));
    expect(await codeOf(c.call('BatchQueryDeviceDetail', { ProductKey: PK, ...tooMany }))).toMatch(/InvalidParameter/);
    expect(await codeOf(c.call('BatchQueryDeviceDetail', { ProductKey: 'a1NoSuchProd', 'DeviceName.1': 'bench-12' }))).toBe('iot.prod.NotExistedProduct');
  });
});
