// The agent against the lab: success with every notice variant the platform may send.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { NoticeStyle } from '../../lab/notice.js';
import type { Agent } from '../../agent/agent.js';
import { addFirmware, createVerifyJob, deviceStatus, popClient, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, failuresIn, recordProgress, recordReceived, testAgent } from '../helpers/agent-fixtures.js';

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
    const progress = await recordProgress(lab, 'bench-01');
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

  it('installs a multi-file package: every file checked against its own digest and handed to the hook', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agent-multi-'));
    const seen = join(dir, 'seen');
    // The hook records each argument's content digest, and the same for OTA_FILES.
    const hook = `for f in "$@"; do sha256sum "$f" | cut -d' ' -f1; done > ${seen}; printf '%s\\n' "$OTA_FILES" | wc -l >> ${seen}`;
    const received = await recordReceived(lab, 'bench-03');
    agents.push(await testAgent(lab, 'bench-03', { simulateInstall: false, installCommand: hook }));
    await deviceStatus(lab, 'bench-03');
    const a = Buffer.alloc(70_000, 3);
    const b = Buffer.alloc(50_000, 4);
    const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
    const multi = async (version: string, signB: string) => {
      const ua = await lab.putFirmwareFile('app.bin', a);
      const ub = await lab.putFirmwareFile('res.bin', b);
      const res = await popClient(lab).call<{ Data: { FirmwareId: string } }>('CreateOTAFirmware', {
        ProductKey: lab.connection.productKey, FirmwareName: `multi-${version}`, DestVersion: version, SignMethod: 'SHA256',
        MultiFiles: [{ Name: 'app.bin', Size: a.length, Url: ua.url, SignValue: sha(a) }, { Name: 'res.bin', Size: b.length, Url: ub.url, SignValue: signB }],
      });
      await createVerifyJob(lab, res.Data.FirmwareId, ['bench-03']);
    };
    // The second file's digest is wrong: the second file is verified too, and nothing is installed.
    await multi('4.0.0', sha(Buffer.from('something else')));
    const ended = await Promise.race([taskReaches(lab, 'bench-03', 'FAILED'), taskReaches(lab, 'bench-03', 'SUCCEEDED')]);
    expect(ended.status).toBe('FAILED');
    const failures = failuresIn(received.progress);
    expect(failures.map((f) => [f.module, f.step])).toEqual([['default', -3]]);
    expect(failures[0]?.desc).toMatch(new RegExp(`^digest mismatch: got ${sha(b).slice(0, 16)}`));
    await expect(readFile(seen, 'utf8')).rejects.toThrow();
    await multi('4.0.1', sha(b));
    await taskReaches(lab, 'bench-03', 'SUCCEEDED');
    expect((await readFile(seen, 'utf8')).trim().split('\n')).toEqual([sha(a), sha(b), '2']);
    await rm(dir, { recursive: true, force: true });
  });

  it('logs "upgrade done" once per upgrade', async () => {
    const agent = await testAgent(lab, 'bench-01');
    agents.push(agent);
    await deviceStatus(lab, 'bench-01');
    const before = AGENT_LOG.length;
    const done = new Promise((resolve) => agent.events.once('done', resolve));
    const { firmwareId } = await addFirmware(lab, { version: '2.2.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    await done;
    expect(AGENT_LOG.slice(before).filter((l) => l.includes('"msg":"upgrade done"'))).toHaveLength(1);
  });
});

afterAll(() => {
  expect(AGENT_LOG.length).toBeGreaterThan(0);
  expectNoSecretsIn(AGENT_LOG);
});
