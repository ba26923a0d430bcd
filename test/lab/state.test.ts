// --state-dir: products, devices, firmware, jobs and tasks survive a restart; a corrupt store is
// refused with a clear error, never silently replaced.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab } from '../../lab/start-lab.js';
import { isOtaError } from '../../shared/errors.js';
import { addFirmware, connectDevice, createVerifyJob, deviceStatus, popClient, taskReaches } from '../helpers/lab-fixtures.js';

const dirs: string[] = [];
async function stateDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lab-state-'));
  dirs.push(d);
  return d;
}
afterEach(async () => { await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true }))); });

describe('lab state dir', () => {
  it('keeps everything across a restart mid-job, and the job finishes on the new lab', async () => {
    const dir = await stateDir();
    const first = await startLab({ deviceCount: 2, throttle: 'off', stateDir: dir });
    const d1 = await connectDevice(first, 'bench-01');
    await deviceStatus(first, 'bench-01');
    await d1.publish('inform', { id: 1, params: { version: '1.0.0' } });
    const { firmwareId, content } = await addFirmware(first, { version: '2.0.0' });
    const jobId = await createVerifyJob(first, firmwareId, ['bench-01']);
    await d1.next('/upgrade/a1LabProd01/bench-01');
    await d1.publish('progress', { id: 2, params: { step: '30' } });
    await taskReaches(first, 'bench-01', 'IN_PROGRESS');
    const creds = first.connection;
    await d1.client.endAsync(true);
    await first.close();

    const second = await startLab({ deviceCount: 2, throttle: 'off', stateDir: dir });
    try {
      expect(second.connection.accessKeyId).toBe(creds.accessKeyId);
      expect(second.connection.devices).toEqual(creds.devices);
      const job = await popClient(second).call<{ Data: { JobStatus: string } }>('QueryOTAJob', { JobId: jobId });
      expect(job.Data.JobStatus).toBe('IN_PROGRESS');
      const d2 = await connectDevice(second, 'bench-01');
      // The notice's URL points at the restarted file server and still serves the same bytes.
      await d2.publish('firmwareGet', { id: 3, params: {} });
      const reply = await d2.next('/get_reply');
      const url = (reply.data as { url: string }).url;
      expect(url.startsWith(second.connection.fileServer)).toBe(true);
      expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(content)).toBe(true);
      await d2.publish('inform', { id: 4, params: { version: '2.0.0' } });
      await taskReaches(second, 'bench-01', 'SUCCEEDED');
      await d2.client.endAsync(true);
    } finally {
      await second.close();
    }
    const third = await startLab({ deviceCount: 2, throttle: 'off', stateDir: dir });
    try {
      const fw = await popClient(third).call<{ FirmwareInfo: { Status: number } }>('QueryOTAFirmware', { FirmwareId: firmwareId });
      expect(fw.FirmwareInfo.Status).toBe(1);
    } finally {
      await third.close();
    }
  });

  it('refuses a corrupt state file with a clear error and leaves it in place', async () => {
    const dir = await stateDir();
    await writeFile(join(dir, 'state.json'), '{"version":1,"devices":[');
    let caught: unknown;
    try { await startLab({ stateDir: dir }); } catch (err) { caught = err; }
    expect(isOtaError(caught, 'STATE_CORRUPT')).toBe(true);
    expect((caught as Error).message).toContain('state.json');
    await writeFile(join(dir, 'state.json'), '{"version":7}');
    caught = undefined;
    try { await startLab({ stateDir: dir }); } catch (err) { caught = err; }
    expect(isOtaError(caught, 'STATE_CORRUPT')).toBe(true);
  });

  it('ignores a torn temporary file left by a crash mid-write', async () => {
    const dir = await stateDir();
    const a = await startLab({ deviceCount: 1, throttle: 'off', stateDir: dir });
    const key = a.connection.accessKeyId;
    await a.close();
    await writeFile(join(dir, 'state.json.12345.tmp'), '{"version":1,"acce');
    const b = await startLab({ deviceCount: 1, throttle: 'off', stateDir: dir });
    expect(b.connection.accessKeyId).toBe(key);
    await b.close();
  });
});
