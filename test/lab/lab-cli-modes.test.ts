// `ota-lab start` with the modes a user picks on the command line: an enterprise instance and the
// ListOTAUnfinishedTaskByDevice filter form. The built CLI in a real process, called with pop-core.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import RPCClient from '@alicloud/pop-core';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLabConnection, type LabConnection } from '../../shared/lab-connection.js';
import { BIN, runCliToEnd, spawnCli, type Spawned } from '../helpers/processes.js';
import { codeOf } from '../helpers/lab-fixtures.js';

let dir: string;
let lab: Spawned;
let conn: LabConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lab-cli-modes-'));
  lab = spawnCli(BIN.lab, ['start', '--devices', '1', '--log-level', 'warn', '--instance-id', 'iot-06z00cli0001', '--unfinished-filter', 'task-status-list'], { cwd: dir });
  await lab.waitFor(/Press Ctrl-C to stop/);
  conn = await readLabConnection(join(dir, 'lab.json'));
});
afterAll(async () => {
  await lab?.stop('SIGINT');
  await rm(dir, { recursive: true, force: true });
});

function call(params: Record<string, unknown>): Promise<unknown> {
  const client = new RPCClient({ endpoint: conn.apiEndpoint, apiVersion: '2018-01-20', accessKeyId: conn.accessKeyId, accessKeySecret: conn.accessKeySecret });
  return client.request('ListOTAUnfinishedTaskByDevice', { RegionId: conn.regionId, ProductKey: conn.productKey, DeviceName: 'bench-01', ...params }, { method: 'POST', timeout: 10_000 });
}

describe('ota-lab start --instance-id --unfinished-filter', () => {
  it('names the instance in lab.json and on screen, and refuses calls without it', async () => {
    expect(conn.iotInstanceId).toBe('iot-06z00cli0001');
    expect(lab.stdout()).toContain('iot-06z00cli0001');
    expect(await codeOf(call({ 'TaskStatusList.1': 'QUEUED' }))).toBe('iot.system.InstanceNotFound');
  });

  it('takes only TaskStatusList.N on ListOTAUnfinishedTaskByDevice', async () => {
    const ok = await call({ IotInstanceId: 'iot-06z00cli0001', 'TaskStatusList.1': 'QUEUED' }) as { Success: boolean };
    expect(ok.Success).toBe(true);
    expect(await codeOf(call({ IotInstanceId: 'iot-06z00cli0001', TaskStatus: 'QUEUED' }))).toBe('InvalidParameter');
  });
});

describe('ota-lab\'s own commands on an --instance-id lab', () => {
  it('firmware add and firmware list send the lab\'s IotInstanceId (it refused them), and ota-verify reads the firmware', async () => {
    await writeFile(join(dir, 'fw.bin'), Buffer.alloc(4096, 3));
    const add = await runCliToEnd(BIN.lab, ['firmware', 'add', 'fw.bin', '--version', '2.0.0'], { cwd: dir });
    expect(add.code, add.stderr).toBe(0);
    const id = add.stdout.trim();
    expect(id).toMatch(/^fw\w+$/);
    const list = await runCliToEnd(BIN.lab, ['firmware', 'list', '--json'], { cwd: dir });
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { firmware: { firmwareId: string }[] }).firmware.map((f) => f.firmwareId)).toEqual([id]);
    const shown = await runCliToEnd(BIN.verify, ['firmware', id, '--lab', 'lab.json', '--json'], { cwd: dir });
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ firmwareId: id, destVersion: '2.0.0', status: 0 });
  });
});
