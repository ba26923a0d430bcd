// What the platform receives from ota-verify, recorded by a proxy in front of the lab: IotInstanceId on
// every call of every command, and ListOTAUnfinishedTaskByDevice's status filter in whichever form
// the platform accepts (the proxy refuses the other, as the platform would refuse a parameter).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFirmware, createVerifyJob, taskReaches } from '../helpers/lab-fixtures.js';
import { BIN, runCliToEnd } from '../helpers/processes.js';
import { startRecordingProxy, type RecordingProxy } from '../helpers/recording-proxy.js';
import { labWithBenches, type Bench } from '../helpers/verify-fixtures.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'verify-requests-')); });
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** The benches' lab behind a recording proxy, and a lab file pointing at the proxy. */
async function proxied(b: Bench): Promise<{ proxy: RecordingProxy; labFile: string }> {
  const proxy = await startRecordingProxy(b.lab.connection.apiEndpoint);
  cleanup.push(() => proxy.close());
  const labFile = join(dir, `proxied-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(labFile, JSON.stringify({ ...JSON.parse(await readFile(b.labFile, 'utf8')) as object, apiEndpoint: proxy.url }));
  return { proxy, labFile };
}

// Poll intervals only where they act: status, cancel and firmware refuse them.
const cli = (args: string[]) => runCliToEnd(BIN.verify, [...args, ...(args[0] === 'verify' || args[0] === 'watch' ? ['--poll-min-ms', '200', '--poll-max-ms', '500'] : [])]);

describe('IotInstanceId', () => {
  it('is sent on every call of verify, watch, status, cancel and firmware, and the re-attach hint carries it', async () => {
    // bench-03 has no agent: a task for it stays QUEUED, holding it busy.
    const b = await labWithBenches(dir, cleanup, 3, { running: 2, agent: { simulateInstall: false, installCommand: 'sleep 1' } });
    const { proxy, labFile } = await proxied(b);
    const target = ['--lab', labFile, '--instance-id', 'iot-06z00test'];
    const { firmwareId } = await addFirmware(b.lab);
    const v = await cli(['verify', ...target, '--firmware-id', firmwareId, '--devices', 'bench-01,bench-02']);
    expect(v.code, v.stderr).toBe(0);
    const jobId = /watching verify job (\S+)/.exec(v.stdout)?.[1] ?? '';
    expect(v.stdout).toContain(`ota-verify watch ${jobId} --lab ${labFile} --instance-id iot-06z00test`);
    expect((await cli(['watch', jobId, ...target])).code).toBe(0);
    expect((await cli(['status', jobId, ...target])).code).toBe(0);
    expect((await cli(['firmware', firmwareId, ...target])).code).toBe(0);
    // A running job to cancel, and a bench busy with it for the unfinished-task check.
    const other = await addFirmware(b.lab, { version: '3.0.0' });
    const running = await createVerifyJob(b.lab, other.firmwareId, ['bench-03']);
    const busy = await cli(['verify', ...target, '--firmware-id', (await addFirmware(b.lab, { version: '4.0.0' })).firmwareId, '--devices', 'bench-03', '--start-timeout-minutes', '0']);
    expect(busy.code).toBe(2);
    const c = await cli(['cancel', running, ...target]);
    expect(c.code, c.stderr).toBe(0);
    const actions = new Set(proxy.requests.map((r) => r.action));
    for (const a of ['QueryOTAFirmware', 'BatchQueryDeviceDetail', 'CreateOTAVerifyJob', 'ListOTATaskByJob', 'QueryOTAJob', 'ListOTAJobByFirmware', 'ListOTAUnfinishedTaskByDevice', 'CancelOTATaskByJob']) expect(actions).toContain(a);
    const missing = proxy.requests.filter((r) => r.params.IotInstanceId !== 'iot-06z00test');
    expect(missing.map((r) => r.action)).toEqual([]);
  });
});

describe('ListOTAUnfinishedTaskByDevice status filter', () => {
  async function busyBench(refuse: 'TaskStatusList' | 'TaskStatus') {
    // The lab takes the other form (where it has the option); the proxy refuses this one in any case.
    const b = await labWithBenches(dir, cleanup, 1, { agent: { simulateInstall: false, installCommand: 'sleep 30' }, unfinishedFilter: refuse === 'TaskStatus' ? 'task-status-list' : 'task-status' });
    const { proxy, labFile } = await proxied(b);
    proxy.refuse = (r) => (r.action === 'ListOTAUnfinishedTaskByDevice' && Object.keys(r.params).some((k) => (refuse === 'TaskStatus' ? k === 'TaskStatus' : k.startsWith('TaskStatusList'))) ? 'MissingParameter' : undefined);
    const held = await addFirmware(b.lab, { version: '3.0.0' });
    const jobId = await createVerifyJob(b.lab, held.firmwareId, ['bench-01']);
    await taskReaches(b.lab, 'bench-01', 'IN_PROGRESS');
    const { firmwareId } = await addFirmware(b.lab, { version: '4.0.0' });
    const r = await cli(['verify', '--lab', labFile, '--firmware-id', firmwareId, '--devices', 'bench-01', '--json']);
    const asked = proxy.requests.filter((q) => q.action === 'ListOTAUnfinishedTaskByDevice').map((q) => Object.entries(q.params).filter(([k]) => k.startsWith('TaskStatus')).map(([k, v]) => `${k}=${v}`).join('&'));
    return { r, asked, jobId, heldId: held.firmwareId };
  }

  it('sends TaskStatusList.N, the documented form, and names the bench and the task holding it', async () => {
    const { r, asked, jobId, heldId } = await busyBench('TaskStatus');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`busy with another OTA task: bench-01 \\(task \\S+ of job ${jobId}, firmware ${heldId}, IN_PROGRESS\\)`));
    expect(asked).toEqual(['TaskStatusList.1=CONFIRM&TaskStatusList.2=QUEUED&TaskStatusList.3=NOTIFIED&TaskStatusList.4=IN_PROGRESS']);
    expect((JSON.parse(r.stdout) as { verdict: string }).verdict).toBe('refused');
  });

  it('falls back to TaskStatus, one call per unfinished status, when the platform refuses the list form', async () => {
    const { r, asked, jobId } = await busyBench('TaskStatusList');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`busy with another OTA task: bench-01 \\(task \\S+ of job ${jobId}`));
    expect(asked).toEqual(['TaskStatusList.1=CONFIRM&TaskStatusList.2=QUEUED&TaskStatusList.3=NOTIFIED&TaskStatusList.4=IN_PROGRESS', 'TaskStatus=CONFIRM', 'TaskStatus=QUEUED', 'TaskStatus=NOTIFIED', 'TaskStatus=IN_PROGRESS']);
  });
});

it('cancel says what happens to benches already downloading or installing', async () => {
  const b = await labWithBenches(dir, cleanup, 1, { agent: { simulateInstall: false, installCommand: 'sleep 30' } });
  const { firmwareId } = await addFirmware(b.lab);
  const jobId = await createVerifyJob(b.lab, firmwareId, ['bench-01']);
  await taskReaches(b.lab, 'bench-01', 'IN_PROGRESS');
  const c = await cli(['cancel', jobId, '--lab', b.labFile]);
  expect(c.code).toBe(0);
  expect(c.stderr).toMatch(/already downloading or installing is not told and carries on/);
  expect(b.lab.store.state.tasks[0]?.status).toBe('CANCELED');
});
