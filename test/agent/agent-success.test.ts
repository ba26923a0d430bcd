// The agent against the lab: success with every notice variant the platform may send.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { NoticeStyle } from '../../lab/notice.js';
import type { Agent } from '../../agent/agent.js';
import { addFirmware, createVerifyJob, deviceStatus, popClient, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, recordProgress, testAgent } from '../helpers/agent-fixtures.js';

let lab: Lab;
const agents: Agent[] = [];

beforeEach(async () => { lab = await startLab({ deviceCount: 3, throttle: 'off' }); });
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
  await lab.close();
});

async function verified(firmwareId: string): Promise<number> {
  return (await popClient(lab).call<{ FirmwareInfo: { Status: number } }>('QueryOTAFirmware', { FirmwareId: firmwareId })).FirmwareInfo.Status;
}

describe('agent upgrade success', () => {
  it('downloads, verifies, installs and informs; progress only moves forward and ends at 100', async () => {
    agents.push(await testAgent(lab, 'bench-01'));
    await deviceStatus(lab, 'bench-01');
    const progress = recordProgress(lab, 'bench-01');
    const { firmwareId } = await addFirmware(lab, { content: Buffer.alloc(3 * 1024 * 1024, 1), version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    const task = await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect(task.progress).toBe(100);
    expect(progress[progress.length - 1]).toBe(100);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(await verified(firmwareId)).toBe(1);
    expect(lab.store.state.devices.find((d) => d.deviceName === 'bench-01')?.moduleVersions.default).toBe('2.0.0');
  });

  const variants: [string, Partial<NoticeStyle>, 'MD5' | 'SHA256'][] = [
    ['Md5 (as the platform sends)', {}, 'MD5'],
    ['MD5 upper case', { md5Spelling: 'MD5' }, 'MD5'],
    ['md5 lower case', { md5Spelling: 'md5' }, 'MD5'],
    ['Sha256', { sha256Spelling: 'Sha256' }, 'SHA256'],
    ['sha256 with a string id', { sha256Spelling: 'sha256', idType: 'string' }, 'SHA256'],
    ['module always present', { module: 'always' }, 'SHA256'],
    ['files[] for a single file', { files: 'always' }, 'SHA256'],
  ];
  it.each(variants)('accepts the notice spelling: %s', async (_name, style, signMethod) => {
    lab.engine.noticeStyle = { ...lab.engine.noticeStyle, ...style };
    agents.push(await testAgent(lab, 'bench-02'));
    await deviceStatus(lab, 'bench-02');
    const { firmwareId } = await addFirmware(lab, { signMethod, version: '3.1.0' });
    await createVerifyJob(lab, firmwareId, ['bench-02']);
    await taskReaches(lab, 'bench-02', 'SUCCEEDED');
    expect(await verified(firmwareId)).toBe(1);
  });

  it('installs a multi-file package, each file checked against its own digest', async () => {
    agents.push(await testAgent(lab, 'bench-03'));
    await deviceStatus(lab, 'bench-03');
    const a = Buffer.alloc(70_000, 3);
    const b = Buffer.alloc(50_000, 4);
    const ua = await lab.putFirmwareFile('app.bin', a);
    const ub = await lab.putFirmwareFile('res.bin', b);
    const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
    const res = await popClient(lab).call<{ Data: { FirmwareId: string } }>('CreateOTAFirmware', {
      ProductKey: lab.connection.productKey, FirmwareName: 'multi', DestVersion: '4.0.0', SignMethod: 'SHA256',
      MultiFiles: [{ Name: 'app.bin', Size: a.length, Url: ua.url, SignValue: sha(a) }, { Name: 'res.bin', Size: b.length, Url: ub.url, SignValue: sha(b) }],
    });
    await createVerifyJob(lab, res.Data.FirmwareId, ['bench-03']);
    await taskReaches(lab, 'bench-03', 'SUCCEEDED');
  });
});

afterAll(() => {
  expect(AGENT_LOG.length).toBeGreaterThan(0);
  expectNoSecretsIn(AGENT_LOG);
});
