// Each failure with the platform's code and a useful desc (docs/platform.md § Progress).
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import type { Task } from '../../lab/model.js';
import { addFirmware, createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, testAgent } from '../helpers/agent-fixtures.js';

let lab: Lab;
let dir: string;
const agents: Agent[] = [];

beforeEach(async () => {
  lab = await startLab({ deviceCount: 2, throttle: 'off' });
  dir = await mkdtemp(join(tmpdir(), 'agent-fail-'));
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
  await lab.close();
});

/** An install hook that leaves a marker, so a test can tell whether it ran. */
function markerHook(extra = ''): { command: string; marker: string } {
  const marker = join(dir, 'hook-ran');
  return { command: `touch ${marker}; ${extra}`, marker };
}

async function runJob(opts: { agent?: Parameters<typeof testAgent>[2]; content?: Buffer; fault?: Parameters<Lab['setFault']>[1]; tags?: { Key: string; Value: string }[] } = {}): Promise<{ task: Task; workDir: string }> {
  const workDir = join(dir, 'work');
  agents.push(await testAgent(lab, 'bench-01', { workDir, ...opts.agent }));
  await deviceStatus(lab, 'bench-01');
  const { firmwareId } = await addFirmware(lab, { version: '2.0.0', ...(opts.content ? { content: opts.content } : {}) });
  if (opts.fault) lab.setFault(firmwareId, opts.fault);
  await createVerifyJob(lab, firmwareId, ['bench-01'], opts.tags ? { Tag: opts.tags } : {});
  return { task: await taskReaches(lab, 'bench-01', 'FAILED'), workDir };
}

describe('agent failures', () => {
  it('-1: refuses a plain-http download when allowInsecureHttp is off, and runs nothing', async () => {
    const hook = markerHook();
    const { task } = await runJob({ agent: { allowInsecureHttp: false, simulateInstall: false, installCommand: hook.command } });
    expect(task.taskDesc).toMatch(/not https/);
    expect(existsSync(hook.marker)).toBe(false);
  });

  it('-2: a 404 fails at once with the status in desc', async () => {
    const { task } = await runJob({ fault: { errorStatus: 404 } });
    expect(task.taskDesc).toMatch(/HTTP 404/);
  });

  it('-2: retries 500s with backoff, then gives up', async () => {
    const { task } = await runJob({ fault: { errorStatus: 500 }, agent: { downloadRetries: 2 } });
    expect(task.taskDesc).toMatch(/after 2 retries: HTTP 500/);
  });

  it('-2: stops at once when the server sends more bytes than the notice declared', async () => {
    const { task } = await runJob({ fault: { extraBytes: 4096 } });
    expect(task.taskDesc).toMatch(/more than the \d+ bytes/);
  });

  it('succeeds after transient 500s within the retry budget', async () => {
    agents.push(await testAgent(lab, 'bench-02'));
    await deviceStatus(lab, 'bench-02');
    const { firmwareId } = await addFirmware(lab);
    lab.setFault(firmwareId, { errorStatus: 503, errorTimes: 2 });
    await createVerifyJob(lab, firmwareId, ['bench-02']);
    await taskReaches(lab, 'bench-02', 'SUCCEEDED');
  });

  it('-3: a flipped byte fails the digest; the hook never runs and the file is deleted', async () => {
    const hook = markerHook();
    const { task, workDir } = await runJob({ fault: { flipByteAt: 100 }, agent: { simulateInstall: false, installCommand: hook.command } });
    expect(task.taskDesc).toMatch(/digest mismatch/);
    expect(existsSync(hook.marker)).toBe(false);
    expect(await readdir(join(workDir, 'downloads'))).toEqual([]);
  });

  it('-3: a signature by another key fails; the right one passes', async () => {
    const release = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(dir, 'release.pem');
    await writeFile(keyFile, release.publicKey.export({ type: 'spki', format: 'pem' }));
    const content = Buffer.from('signed firmware '.repeat(5000));
    const sign = (key: typeof other.privateKey) => createSign('sha256').update(content).sign(key).toString('base64');
    const hook = markerHook();
    const { task } = await runJob({ content, tags: [{ Key: 'signature', Value: sign(other.privateKey) }], agent: { publicKeyFile: keyFile, simulateInstall: false, installCommand: hook.command } });
    expect(task.taskDesc).toMatch(/signature does not match/);
    expect(existsSync(hook.marker)).toBe(false);

    agents.push(await testAgent(lab, 'bench-02', { publicKeyFile: keyFile }));
    await deviceStatus(lab, 'bench-02');
    const good = await addFirmware(lab, { content, version: '2.0.1' });
    await createVerifyJob(lab, good.firmwareId, ['bench-02'], { Tag: [{ Key: 'signature', Value: sign(release.privateKey) }] });
    await taskReaches(lab, 'bench-02', 'SUCCEEDED');
  });

  it('-3: a missing signature fails when a key is configured', async () => {
    const keyFile = join(dir, 'k.pem');
    await writeFile(keyFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
    const { task } = await runJob({ agent: { publicKeyFile: keyFile } });
    expect(task.taskDesc).toMatch(/signature missing/);
  });

  it('-4: a failing hook reports its last stderr line', async () => {
    const { task } = await runJob({ agent: { simulateInstall: false, installCommand: 'echo progress 50; echo "step one" >&2; echo "flash write error at 0x8000" >&2; exit 3' } });
    expect(task.taskDesc).toBe('install hook exited 3: flash write error at 0x8000');
  });

  it('-4: a hook that runs too long is stopped', async () => {
    const { task } = await runJob({ agent: { simulateInstall: false, installCommand: 'sleep 30', installTimeoutSec: 1 } });
    expect(task.taskDesc).toMatch(/timed out after 1 s/);
  });

  it('-4: a version read back that is not the destination names both versions', async () => {
    const { task } = await runJob({ agent: { simulateInstall: false, installCommand: 'true', modules: [{ name: 'default', versionCommand: 'echo 1.0.0' }] } });
    expect(task.taskDesc).toBe('version read back is 1.0.0, expected 2.0.0');
  });

  it('passes the notice facts to the hook, and the version command confirms', async () => {
    const out = join(dir, 'facts');
    const cmd = `printf '%s|%s|%s|%s|%s' "$OTA_VERSION" "$OTA_MODULE" "$OTA_SIGN_METHOD" "$OTA_SIZE" "$1" > ${out}; echo "$OTA_VERSION" > ${join(dir, 'ver')}`;
    agents.push(await testAgent(lab, 'bench-02', { simulateInstall: false, installCommand: cmd, modules: [{ name: 'default', versionCommand: `cat ${join(dir, 'ver')} 2>/dev/null || echo 1.0.0` }] }));
    await deviceStatus(lab, 'bench-02');
    const { firmwareId, content } = await addFirmware(lab, { version: '2.5.0', signMethod: 'MD5' });
    await createVerifyJob(lab, firmwareId, ['bench-02']);
    await taskReaches(lab, 'bench-02', 'SUCCEEDED');
    const { readFile } = await import('node:fs/promises');
    const facts = (await readFile(out, 'utf8')).split('|');
    expect(facts.slice(0, 4)).toEqual(['2.5.0', 'default', 'MD5', String(content.length)]);
    expect(facts[4]).toMatch(/\.part$/);
  });
});

afterAll(() => {
  expect(AGENT_LOG.length).toBeGreaterThan(0);
  expectNoSecretsIn(AGENT_LOG);
});
