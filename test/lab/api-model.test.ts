// Every action the lab serves, called through the official @alicloud/iot20180120 client, and each
// answer held against that SDK's own response model (its `names()` / `types()`, walked recursively):
// no field the model has no place for, each value of the model's type, and every field this project
// reads present. Code tested on the lab must not come to rely on anything the platform never sends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { LAB_ACTIONS } from '../../lab/actions/registry.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { iotSdk, sdkCall, sdkClient, type SdkClient } from '../helpers/iot-sdk.js';

type ModelClass = { names(): Record<string, string>; types(): Record<string, unknown> };

/** Each difference between a raw JSON answer and the model class, as "path: what is wrong". */
function modelGaps(value: unknown, model: ModelClass, path: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: expected an object, got ${JSON.stringify(value)}`];
  const names = model.names();
  const types = model.types();
  const byWire = new Map(Object.entries(names).map(([prop, wire]) => [wire, types[prop]]));
  const gaps: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (!byWire.has(key)) { gaps.push(`${path}.${key}: not in the model`); continue; }
    gaps.push(...typeGaps(v, byWire.get(key), `${path}.${key}`));
  }
  return gaps;
}

function typeGaps(v: unknown, type: unknown, path: string): string[] {
  if (typeof type === 'string') {
    if (type === 'any' || type === 'map') return [];
    return typeof v === type ? [] : [`${path}: the model says ${type}, the answer has ${JSON.stringify(v)}`];
  }
  if (typeof type === 'function') return modelGaps(v, type as unknown as ModelClass, path);
  const arr = type as { type?: string; itemType?: unknown };
  if (arr.type === 'array') {
    if (!Array.isArray(v)) return [`${path}: the model says a list, the answer has ${JSON.stringify(v)}`];
    return v.flatMap((item, i) => typeGaps(item, arr.itemType, `${path}[${i}]`));
  }
  return [`${path}: unknown model type ${JSON.stringify(type)}`];
}

/** The value at a dotted path; `[]` steps into every element of a list (which must not be empty). */
function missingReads(body: unknown, paths: readonly string[]): string[] {
  const missing: string[] = [];
  for (const p of paths) {
    let found: unknown[] = [body];
    for (const step of p.split('.')) {
      const listed = step.endsWith('[]');
      const key = listed ? step.slice(0, -2) : step;
      found = found.flatMap((x) => {
        const v = (x as Record<string, unknown> | undefined)?.[key];
        return listed ? (Array.isArray(v) ? v as unknown[] : []) : [v];
      });
      if (found.length === 0) break;
    }
    if (found.length === 0 || found.some((x) => x === undefined || x === null)) missing.push(p);
  }
  return missing;
}

/** What this project reads from each answer (the orchestrator, the lab's own commands, the tests' helpers). */
const READS: Readonly<Record<string, readonly string[]>> = {
  CreateOTAFirmware: ['Data.FirmwareId'],
  QueryOTAFirmware: ['FirmwareInfo.FirmwareId', 'FirmwareInfo.FirmwareName', 'FirmwareInfo.ProductKey', 'FirmwareInfo.ModuleName',
    'FirmwareInfo.DestVersion', 'FirmwareInfo.Status', 'FirmwareInfo.VerifyProgress'],
  ListOTAFirmware: ['FirmwareInfo.SimpleFirmwareInfo[].FirmwareId', 'Total'],
  CreateOTAVerifyJob: ['Data.JobId'],
  QueryOTAJob: ['Data.FirmwareId', 'Data.ProductKey', 'Data.JobStatus', 'Data.JobType'],
  ListOTAJobByFirmware: ['Data.SimpleOTAJobInfo[].JobId', 'Data.SimpleOTAJobInfo[].JobType', 'Data.SimpleOTAJobInfo[].JobStatus', 'Data.SimpleOTAJobInfo[].UtcCreate'],
  ListOTATaskByJob: ['Data.SimpleOTATaskInfo[].TaskId', 'Data.SimpleOTATaskInfo[].DeviceName', 'Data.SimpleOTATaskInfo[].TaskStatus',
    'Data.SimpleOTATaskInfo[].Progress', 'Data.SimpleOTATaskInfo[].TaskDesc', 'Data.SimpleOTATaskInfo[].SrcVersion',
    'Data.SimpleOTATaskInfo[].DestVersion', 'Total'],
  ListOTAUnfinishedTaskByDevice: ['Data.SimpleOTATaskInfo[].TaskId'],
  QueryDeviceDetail: ['Data.DeviceName', 'Data.Status', 'Data.FirmwareVersion'],
  BatchQueryDeviceDetail: ['Data.Data[].DeviceName', 'Data.Data[].Status', 'Data.Data[].FirmwareVersion'],
  CancelOTATaskByJob: [], ReupgradeOTATask: [], ConfirmOTATask: [], CancelOTATaskByDevice: [],
  GenerateOTAUploadURL: ['Data.FirmwareUrl', 'Data.Host', 'Data.Key', 'Data.Policy', 'Data.Signature', 'Data.OSSAccessKeyId'],
};

const PK = 'a1LabProd01';
let lab: Lab;
let sdk: SdkClient;
const checked = new Set<string>();

beforeAll(async () => {
  lab = await startLab({ deviceCount: 3, throttle: 'off' });
  sdk = sdkClient(lab);
});
afterAll(async () => { await lab.close(); });

/** Call one action through the SDK; check its raw answer against the model and the project's reads. */
async function call(action: string, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  const sdkModels = iotSdk as unknown as Record<string, new (m: Record<string, unknown>) => object>;
  const Request = sdkModels[`${action}Request`];
  const Body = sdkModels[`${action}ResponseBody`] as unknown as ModelClass | undefined;
  if (!Request || !Body) throw new Error(`the SDK has no model for ${action}`);
  const method = `${action[0]?.toLowerCase() ?? ''}${action.slice(1)}`;
  const answer = await sdkCall(sdk, method, new Request(request));
  const body = sdk.lastBody() ?? {};
  expect(answer.body.success, `${action}: ${JSON.stringify(body)}`).toBe(true);
  expect(modelGaps(body, Body, action)).toEqual([]);
  expect(missingReads(body, READS[action] ?? ['(no reads listed for this action)'])).toEqual([]);
  checked.add(action);
  return body;
}

describe('every served action answers exactly the official model', () => {
  it('walks the whole OTA flow through @alicloud/iot20180120 and finds no field the model lacks', async () => {
    const content = Buffer.from('firmware for the model check '.repeat(200));
    const stored = await lab.putFirmwareFile('fw.bin', content);
    const sha = createHash('sha256').update(content).digest('hex');
    const md5 = createHash('md5').update(content).digest('hex');
    const fw1 = (await call('CreateOTAFirmware', {
      productKey: PK, firmwareName: 'model-single', destVersion: '2.0.0', firmwareUrl: stored.url, firmwareSign: sha, signMethod: 'SHA256', firmwareSize: content.length,
    }) as { Data: { FirmwareId: string } }).Data.FirmwareId;
    const fw2 = (await call('CreateOTAFirmware', {
      productKey: PK, firmwareName: 'model-multi', destVersion: '3.0.0', signMethod: 'SHA256', needToVerify: false,
      multiFiles: [new iotSdk.CreateOTAFirmwareRequestMultiFiles({ name: 'a.bin', size: content.length, url: stored.url, signValue: sha, fileMd5: md5 })],
    }) as { Data: { FirmwareId: string } }).Data.FirmwareId;

    // MultiFiles.N.FileMd5 is kept (a field name with a digit in it).
    const multi = await call('QueryOTAFirmware', { firmwareId: fw2 }) as { FirmwareInfo: { MultiFiles: { FileMd5: string }[] } };
    expect(multi.FirmwareInfo.MultiFiles[0]?.FileMd5).toBe(md5);
    await call('QueryOTAFirmware', { firmwareId: fw1 });

    // ListOTAFirmware's ProductKey and DestVersion filters.
    const byVersion = await call('ListOTAFirmware', { productKey: PK, destVersion: '3.0.0', pageSize: 10 }) as { Total: number; FirmwareInfo: { SimpleFirmwareInfo: { FirmwareId: string }[] } };
    expect(byVersion.FirmwareInfo.SimpleFirmwareInfo.map((f) => f.FirmwareId)).toEqual([fw2]);
    expect((await call('ListOTAFirmware', { productKey: PK, pageSize: 10 }) as { Total: number }).Total).toBe(2);
    const otherProduct = await sdkCall(sdk, 'listOTAFirmware', new iotSdk.ListOTAFirmwareRequest({ productKey: 'a1Other0001', pageSize: 10 }));
    expect(otherProduct.body.total).toBe(0);

    const jobId = (await call('CreateOTAVerifyJob', {
      productKey: PK, firmwareId: fw1, targetDeviceName: ['bench-01', 'bench-02'], needConfirm: true, timeoutInMinutes: 30,
      tag: [new iotSdk.CreateOTAVerifyJobRequestTag({ key: 'build', value: '42' })],
    }) as { Data: { JobId: string } }).Data.JobId;
    const job = await call('QueryOTAJob', { jobId }) as { Data: Record<string, unknown> };
    expect(job.Data.SrcVersions).toEqual({ SrcVersion: [] });
    await call('ListOTAJobByFirmware', { firmwareId: fw1, pageSize: 10 });
    const tasks = (await call('ListOTATaskByJob', { jobId, pageSize: 10 }) as { Data: { SimpleOTATaskInfo: { TaskId: string; DeviceName: string }[] } }).Data.SimpleOTATaskInfo;
    const taskOf = (d: string) => tasks.find((t) => t.DeviceName === d)?.TaskId as string;

    await call('ConfirmOTATask', { taskId: [taskOf('bench-01')] });
    // TaskStatus filters the unfinished tasks; an IotId alone names the device.
    const iotId = ((await call('QueryDeviceDetail', { productKey: PK, deviceName: 'bench-01' }) as { Data: { IotId: string } }).Data).IotId;
    const queued = await call('ListOTAUnfinishedTaskByDevice', { iotId, taskStatus: 'QUEUED' }) as { Data: { SimpleOTATaskInfo: { TaskId: string }[] } };
    expect(queued.Data.SimpleOTATaskInfo.map((t) => t.TaskId)).toEqual([taskOf('bench-01')]);
    const confirmOnly = await sdkCall(sdk, 'listOTAUnfinishedTaskByDevice', new iotSdk.ListOTAUnfinishedTaskByDeviceRequest({ productKey: PK, deviceName: 'bench-01', taskStatus: 'CONFIRM' }));
    expect((confirmOnly.body.data as { simpleOTATaskInfo?: unknown[] }).simpleOTATaskInfo ?? []).toHaveLength(0);
    await call('ListOTAUnfinishedTaskByDevice', { productKey: PK, deviceName: 'bench-02' });

    await call('BatchQueryDeviceDetail', { productKey: PK, deviceName: ['bench-01', 'bench-02', 'nobody-99'] });
    await call('CancelOTATaskByJob', { jobId, cancelQueuedTask: true, cancelUnconfirmedTask: true });
    await call('ReupgradeOTATask', { jobId, taskId: [taskOf('bench-01')] });
    await call('CancelOTATaskByDevice', { firmwareId: fw1, productKey: PK, deviceName: ['bench-01'] });
    if (Object.hasOwn(LAB_ACTIONS, 'GenerateOTAUploadURL')) await call('GenerateOTAUploadURL', { fileSuffix: 'bin' });

    // A business refusal (HTTP 200, Success=false) has the model's fields too.
    const refused = await sdkCall(sdk, 'queryOTAFirmware', new iotSdk.QueryOTAFirmwareRequest({ firmwareId: 'fw-none' }));
    expect(refused.body).toMatchObject({ success: false, code: 'iot.ota.FirmwareNotFound' });
    expect(modelGaps(sdk.lastBody(), iotSdk.QueryOTAFirmwareResponseBody as unknown as ModelClass, 'refusal')).toEqual([]);

    // Every action the lab serves was called and checked.
    expect(Object.keys(LAB_ACTIONS).filter((a) => !checked.has(a))).toEqual([]);
  });
});
