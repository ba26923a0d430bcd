// Each failure with the platform's code and a useful desc: every test asserts the step code the lab
// received (-1 accept, -2 download, -3 verify, -4 install/confirm) and the desc it carried.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import type { Task } from '../../lab/model.js';
import { addFirmware, createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { processGone } from '../helpers/processes.js';
import { AGENT_LOG, expectNoSecretsIn, failuresIn, recordReceived, testAgent, versionKnown } from '../helpers/agent-fixtures.js';

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

/** Run one job to FAILED; `failure` is the one failure step the lab received (and its desc). */
async function runJob(opts: { agent?: Parameters<typeof testAgent>[2]; versionUnreadable?: boolean; content?: Buffer; fault?: Parameters<Lab['setFault']>[1]; tags?: { Key: string; Value: string }[] } = {}): Promise<{ task: Task; workDir: string; failure: { step: number; desc: string } }> {
  const workDir = join(dir, 'work');
  const received = await recordReceived(lab, 'bench-01');
  agents.push(await testAgent(lab, 'bench-01', { workDir, ...opts.agent }));
  // A job created before the lab knows the version would fail at the agent's first inform.
  await (opts.versionUnreadable ? deviceStatus(lab, 'bench-01') : versionKnown(lab, 'bench-01'));
  const { firmwareId } = await addFirmware(lab, { version: '2.0.0', ...(opts.content ? { content: opts.content } : {}) });
  if (opts.fault) lab.setFault(firmwareId, opts.fault);
  await createVerifyJob(lab, firmwareId, ['bench-01'], opts.tags ? { Tag: opts.tags } : {});
  const task = await taskReaches(lab, 'bench-01', 'FAILED');
  const failures = failuresIn(received.progress);
  expect(failures).toHaveLength(1);
  const failure = failures[0] as { module: string; step: number; desc: string };
  expect(failure.module).toBe('default');
  // The desc the platform shows is the one the device sent.
  expect(task.taskDesc).toBe(failure.desc);
  // A failed upgrade never informs the destination version.
  expect(received.informs.map((i) => i.version)).not.toContain('2.0.0');
  return { task, workDir, failure: { step: failure.step, desc: failure.desc } };
}

describe('agent failures', () => {
  it('-1: refuses a plain-http download when allowInsecureHttp is off, and runs nothing', async () => {
    const hook = markerHook();
    const { failure } = await runJob({ agent: { allowInsecureHttp: false, simulateInstall: false, installCommand: hook.command } });
    expect(failure).toEqual({ step: -1, desc: 'download url is http, not https (allowInsecureHttp is off)' });
    expect(existsSync(hook.marker)).toBe(false);
  });

  it('-2: a 404 fails at once with the status in desc', async () => {
    const { failure } = await runJob({ fault: { errorStatus: 404 } });
    expect(failure.step).toBe(-2);
    expect(failure.desc).toMatch(/HTTP 404/);
  });

  it('-2: retries 500s with backoff, then gives up', async () => {
    const { failure } = await runJob({ fault: { errorStatus: 500 }, agent: { downloadRetries: 2 } });
    expect(failure.step).toBe(-2);
    expect(failure.desc).toMatch(/after 2 retries: HTTP 500/);
  });

  it('-2: stops at once when the server sends more bytes than the notice declared', async () => {
    const { failure } = await runJob({ fault: { extraBytes: 4096 } });
    expect(failure.step).toBe(-2);
    expect(failure.desc).toMatch(/more than the \d+ bytes/);
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
    const { failure, workDir } = await runJob({ fault: { flipByteAt: 100 }, agent: { simulateInstall: false, installCommand: hook.command } });
    expect(failure.step).toBe(-3);
    expect(failure.desc).toMatch(/digest mismatch/);
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
    const { failure } = await runJob({ content, tags: [{ Key: 'signature', Value: sign(other.privateKey) }], agent: { publicKeyFile: keyFile, simulateInstall: false, installCommand: hook.command } });
    expect(failure.step).toBe(-3);
    expect(failure.desc).toMatch(/signature does not match/);
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
    const { failure } = await runJob({ agent: { publicKeyFile: keyFile } });
    expect(failure.step).toBe(-3);
    expect(failure.desc).toMatch(/signature missing/);
  });

  it('-4: a failing hook reports its last stderr line', async () => {
    const { failure } = await runJob({ agent: { simulateInstall: false, installCommand: 'echo progress 50; echo "step one" >&2; echo "flash write error at 0x8000" >&2; exit 3' } });
    expect(failure).toEqual({ step: -4, desc: 'install hook exited 3: flash write error at 0x8000' });
  });

  it('-4: a hook that runs too long is stopped, with everything it started, even what ignores SIGTERM', async () => {
    const pids = join(dir, 'pids');
    // The hook and a grandchild both ignore SIGTERM (an ignored signal stays ignored across exec).
    const hook = `trap '' TERM; sh -c 'echo $$ >> ${pids}; exec sleep 60' & echo $$ >> ${pids}; sleep 60`;
    const { failure } = await runJob({ agent: { simulateInstall: false, installCommand: hook, installTimeoutSec: 1 } });
    expect(failure).toEqual({ step: -4, desc: 'install hook timed out after 1 s' });
    const started = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
    expect(started).toHaveLength(2);
    for (const pid of started) expect(await processGone(pid), `pid ${pid}`).toBe(true);
  });

  it('-4: a version read back that is not the destination names both versions', async () => {
    const { failure } = await runJob({ agent: { simulateInstall: false, installCommand: 'true', modules: [{ name: 'default', versionCommand: 'echo 1.0.0' }] } });
    expect(failure).toEqual({ step: -4, desc: 'version read back is 1.0.0, expected 2.0.0' });
  });

  it('-4: a version command that hangs is stopped with its process group', async () => {
    const pids = join(dir, 'version-pids');
    const cmd = `sh -c 'echo $$ >> ${pids}; exec sleep 60' & sleep 60`;
    const { failure } = await runJob({ versionUnreadable: true, agent: { simulateInstall: false, installCommand: 'true', versionTimeoutSec: 1, modules: [{ name: 'default', versionCommand: cmd }] } });
    expect(failure).toEqual({ step: -4, desc: 'version command timed out after 1 s' });
    const started = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
    expect(started.length).toBeGreaterThan(0);
    for (const pid of started) expect(await processGone(pid), `pid ${pid}`).toBe(true);
  });

  it('-4: a version command that floods stdout is stopped at 64 KiB', async () => {
    const { failure } = await runJob({ versionUnreadable: true, agent: { simulateInstall: false, installCommand: 'true', modules: [{ name: 'default', versionCommand: 'yes 2.0.0' }] } });
    expect(failure).toEqual({ step: -4, desc: 'version command printed more than 65536 bytes' });
  });

  it('passes the notice facts to the hook, and the version command confirms', async () => {
    const out = join(dir, 'facts');
    const cmd = `printf '%s|%s|%s|%s|%s' "$OTA_VERSION" "$OTA_MODULE" "$OTA_SIGN_METHOD" "$OTA_SIZE" "$1" > ${out}; echo "$OTA_VERSION" > ${join(dir, 'ver')}`;
    agents.push(await testAgent(lab, 'bench-02', { simulateInstall: false, installCommand: cmd, modules: [{ name: 'default', versionCommand: `cat ${join(dir, 'ver')} 2>/dev/null || echo 1.0.0` }] }));
    await versionKnown(lab, 'bench-02');
    const { firmwareId, content } = await addFirmware(lab, { version: '2.5.0', signMethod: 'MD5' });
    await createVerifyJob(lab, firmwareId, ['bench-02']);
    await taskReaches(lab, 'bench-02', 'SUCCEEDED');
    const facts = (await readFile(out, 'utf8')).split('|');
    expect(facts.slice(0, 4)).toEqual(['2.5.0', 'default', 'MD5', String(content.length)]);
    expect(facts[4]).toMatch(/\.part$/);
  });
});

afterAll(() => {
  expect(AGENT_LOG.length).toBeGreaterThan(0);
  expectNoSecretsIn(AGENT_LOG);
});
