// A firmware from HASH_WORKER_MIN_BYTES up is hashed on a worker thread that reads the part file back
// behind the writes. The verdicts are the ones the thread gives (every test asserts what the lab
// received), through cuts, restarts from byte 0 and a worker that dies; and no worker outlives its
// download, whichever way the download ends.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash, createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, truncateSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { HASH_WORKER_MIN_BYTES } from '../../agent/worker-digester.js';
import { addFirmware, createVerifyJob, popClient, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, failureReceived, stepReached, testAgent, versionKnown } from '../helpers/agent-fixtures.js';
import { addServedFirmware, recordSteps, serveRange, startFirmwareServer } from '../helpers/firmware-server.js';

// Odd-sized, so the last read and write are partial.
const SIZE = HASH_WORKER_MIN_BYTES + 4099;
const content = randomBytes(SIZE);

/** Every worker thread this process starts, and a promise of its exit. */
const workers: { worker: Worker; exited: Promise<void> }[] = [];
const onWorker = (worker: Worker) => { workers.push({ worker, exited: new Promise((resolve) => worker.once('exit', () => resolve())) }); };
beforeAll(() => { process.on('worker', onWorker); });
afterAll(() => { process.off('worker', onWorker); expectNoSecretsIn(AGENT_LOG); });

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

async function setUp(agentOverrides: Parameters<typeof testAgent>[2] = {}): Promise<{ lab: Lab; agent: Agent; workDir: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'agent-large-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const lab = await startLab({ deviceCount: 1, throttle: 'off' });
  cleanup.push(() => lab.close());
  const workDir = join(dir, 'work');
  const agent = await testAgent(lab, 'bench-01', { workDir, ...agentOverrides });
  cleanup.push(() => agent.close());
  await versionKnown(lab, 'bench-01');
  workers.length = 0;
  return { lab, agent, workDir, dir };
}

/** Resolves when every worker started since setUp has exited (the download let go of it). */
async function allWorkersGone(): Promise<number> {
  await Promise.all(workers.map((w) => w.exited));
  return workers.length;
}

function installed(workDir: string): Promise<Buffer> {
  return readFile(join(workDir, 'installed', 'default', 'file-0.bin'));
}

async function signedSetUp(): Promise<{ lab: Lab; workDir: string; sign: (key: ReturnType<typeof generateKeyPairSync>['privateKey']) => string; release: ReturnType<typeof generateKeyPairSync> }> {
  const release = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const dir = await mkdtemp(join(tmpdir(), 'agent-large-key-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'release.pem');
  await writeFile(keyFile, release.publicKey.export({ type: 'spki', format: 'pem' }));
  const { lab, workDir } = await setUp({ publicKeyFile: keyFile });
  return { lab, workDir, release, sign: (key) => createSign('sha256').update(content).sign(key).toString('base64') };
}

describe('agent: a large firmware hashed on a worker', () => {
  it('verifies digest and signature on the worker, installs the exact bytes, and lets go of the worker', async () => {
    const { lab, workDir, release, sign } = await signedSetUp();
    const { firmwareId } = await addFirmware(lab, { content, version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01'], { Tag: [{ Key: 'signature', Value: sign(release.privateKey) }] });
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect((await installed(workDir)).equals(content)).toBe(true);
    // The download was hashed on a worker, and the worker is gone once the file is checked.
    expect(await allWorkersGone()).toBe(1);
  });

  it('-3: a signature by another key fails on the worker', async () => {
    const { lab, sign } = await signedSetUp();
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const { firmwareId } = await addFirmware(lab, { content, version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01'], { Tag: [{ Key: 'signature', Value: sign(other.privateKey) }] });
    const failure = await failureReceived(lab, 'bench-01');
    expect(failure).toMatchObject({ step: -3, desc: expect.stringMatching(/signature does not match/) as unknown });
    expect(await allWorkersGone()).toBe(1);
  });

  it('-3: a byte flipped near the end fails the digest; the file is deleted and no hook runs', async () => {
    const marker = join(tmpdir(), `hook-ran-${process.pid}-${Date.now()}`);
    const { lab, workDir } = await setUp({ simulateInstall: false, installCommand: `touch ${marker}` });
    const { firmwareId } = await addFirmware(lab, { content, version: '2.0.0' });
    lab.setFault(firmwareId, { flipByteAt: SIZE - 3 });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    const failure = await failureReceived(lab, 'bench-01');
    expect(failure).toMatchObject({ step: -3, desc: expect.stringMatching(/^digest mismatch/) as unknown });
    expect(existsSync(marker)).toBe(false);
    expect(await readdir(join(workDir, 'downloads'))).toEqual([]);
    expect(await allWorkersGone()).toBe(1);
  });

  it('resumes a large file cut twice: the worker hashes the part file across the attempts', async () => {
    const { lab, workDir } = await setUp();
    const { firmwareId } = await addFirmware(lab, { content, version: '2.0.0' });
    lab.setFault(firmwareId, { closeAfterBytes: Math.floor(SIZE / 3), closeTimes: 2 });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect((await installed(workDir)).equals(content)).toBe(true);
    expect(await allWorkersGone()).toBe(1);
  });

  it('starts over with a fresh digest when the server ignores Range, and lets go of the first worker', async () => {
    const { lab, workDir } = await setUp();
    const server = await startFirmwareServer((req, res, seen) => {
      // The first answer is cut at half; every later one ignores the Range and sends the whole file.
      if (server.requests.length === 1) serveRange(content, req, res, seen, Math.floor(SIZE / 2));
      else serveRange(content, req, res, { ...seen, rangeStart: undefined });
    });
    cleanup.push(() => server.close());
    const fw = await addServedFirmware(lab, server, { path: '/fw', size: SIZE, content, version: '2.0.0' });
    await createVerifyJob(lab, fw, ['bench-01']);
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect(server.requests.map((r) => r.rangeStart)).toEqual([undefined, expect.any(Number)]);
    expect((await installed(workDir)).equals(content)).toBe(true);
    expect(await allWorkersGone()).toBe(2);
  });

  it.each([
    { fault: undefined, verdict: 'SUCCEEDED' },
    { fault: { flipByteAt: 1000 }, verdict: 'FAILED' },
  ] as const)('a hash worker that dies mid-download does not decide the verdict: the file is hashed in the thread ($verdict)', async ({ fault, verdict }) => {
    const { lab, workDir } = await setUp();
    const steps = await recordSteps(lab, 'bench-01');
    const { firmwareId } = await addFirmware(lab, { content, version: '2.0.0' });
    if (fault) lab.setFault(firmwareId, fault);
    const killed = new Promise<void>((resolve) => {
      process.once('worker', (w: Worker) => { w.once('online', () => { void w.terminate().then(() => resolve()); }); });
    });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await killed;
    const task = await Promise.race([taskReaches(lab, 'bench-01', 'SUCCEEDED'), taskReaches(lab, 'bench-01', 'FAILED')]);
    expect(task.status).toBe(verdict);
    if (verdict === 'SUCCEEDED') expect((await installed(workDir)).equals(content)).toBe(true);
    else expect(steps.at(-1)).toMatchObject({ step: -3, desc: expect.stringMatching(/^digest mismatch/) as unknown });
  });

  it('-3: a part file cut short after the worker read it is not installed', async () => {
    const { lab, workDir } = await setUp();
    const steps = await recordSteps(lab, 'bench-01');
    const { firmwareId } = await addFirmware(lab, { content, version: '2.0.0' });
    // The worker's answer means it has read (and hashed) every byte: cut the file then, before the check sees the answer.
    const cut = (w: Worker) => {
      w.once('message', () => { for (const n of readdirSync(join(workDir, 'downloads'))) truncateSync(join(workDir, 'downloads', n), SIZE - 10); });
    };
    process.once('worker', cut);
    cleanup.push(() => Promise.resolve(process.off('worker', cut)));
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    const task = await Promise.race([taskReaches(lab, 'bench-01', 'SUCCEEDED'), taskReaches(lab, 'bench-01', 'FAILED')]);
    expect(task.status).toBe('FAILED');
    expect(steps.at(-1)).toMatchObject({ step: -3, desc: expect.stringMatching(/^downloaded file changed after its check: it holds \d+ bytes, expected \d+/) as unknown });
    expect(existsSync(join(workDir, 'installed', 'default', 'file-0.bin'))).toBe(false);
    expect(await readdir(join(workDir, 'downloads'))).toEqual([]);
  });

  it('a two-file package: the first file\'s worker ends once its file is in, not when the package is', async () => {
    // Up to 20 large files: each idle worker held until the verify step is ~8 MiB of the agent's memory.
    const { lab } = await setUp({ downloadTimeoutMs: 600_000 });
    // The second file sends 2 MiB (its worker starts), then holds the connection open until the test ends.
    const held: (() => void)[] = [];
    const server = await startFirmwareServer((_req, res) => {
      res.writeHead(200, { 'content-length': SIZE });
      res.write(content.subarray(0, 2 * 1024 * 1024));
      held.push(() => res.destroy());
    });
    cleanup.push(() => server.close());
    cleanup.push(() => Promise.resolve(held.forEach((h) => h())));
    const a = await lab.putFirmwareFile('a.bin', content);
    const sha = createHash('sha256').update(content).digest('hex');
    const res = await popClient(lab).call<{ Data: { FirmwareId: string } }>('CreateOTAFirmware', {
      ProductKey: lab.connection.productKey, FirmwareName: 'two-large-held', DestVersion: '2.0.0', SignMethod: 'SHA256',
      MultiFiles: [{ Name: 'a.bin', Size: SIZE, Url: a.url, SignValue: sha }, { Name: 'b.bin', Size: SIZE, Url: `${server.base}/b.bin`, SignValue: sha }],
    });
    const second = new Promise<void>((resolve) => { process.once('worker', () => process.once('worker', () => resolve())); });
    await createVerifyJob(lab, res.Data.FirmwareId, ['bench-01']);
    await second;
    // The second file is still downloading (held): the first worker must be gone all the same.
    await workers[0]?.exited;
    expect(held.length).toBe(1);
    expect(workers.length).toBe(2);
  });

  it.each(['removed', 'cut short'] as const)('a part file %s between two attempts is downloaded again from byte 0, not failed', async (what) => {
    const { lab, workDir } = await setUp();
    const part = () => join(workDir, 'downloads', readdirSync(join(workDir, 'downloads'))[0] ?? 'none');
    const server = await startFirmwareServer(async (req, res, seen) => {
      // The first answer is cut at half; before the resume is answered, something outside the agent
      // takes the part file away (a cleanup) or cuts it short.
      if (server.requests.length === 1) return serveRange(content, req, res, seen, Math.floor(SIZE / 2));
      if (server.requests.length === 2) await (what === 'removed' ? rm(part()) : truncate(part(), 1000));
      serveRange(content, req, res, seen);
    });
    cleanup.push(() => server.close());
    const fw = await addServedFirmware(lab, server, { path: '/fw', size: SIZE, content, version: '2.0.0' });
    await createVerifyJob(lab, fw, ['bench-01']);
    const task = await Promise.race([taskReaches(lab, 'bench-01', 'SUCCEEDED'), taskReaches(lab, 'bench-01', 'FAILED')]);
    expect(task.status).toBe('SUCCEEDED');
    expect((await installed(workDir)).equals(content)).toBe(true);
    expect(server.requests.at(-1)?.rangeStart ?? 0).toBe(0);
  });

  it('an agent stopped mid-download lets go of the worker', async () => {
    const { lab, agent } = await setUp();
    const { firmwareId } = await addFirmware(lab, { content, version: '2.0.0' });
    lab.setFault(firmwareId, { bytesPerSec: 2 * 1024 * 1024 });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await stepReached(lab, 'bench-01', 1);
    await agent.close();
    expect(await allWorkersGone()).toBe(1);
  });


  it.each([
    { failing: 'the first file fails its digest', step: -3 },
    { failing: 'the second file cannot be downloaded', step: -2 },
  ] as const)('a two-file package where $failing lets go of every worker ($step)', async ({ step }) => {
    const { lab } = await setUp();
    const server = await startFirmwareServer((_req, res) => { res.writeHead(404); res.end(); });
    cleanup.push(() => server.close());
    const a = await lab.putFirmwareFile('a.bin', content);
    const b = await lab.putFirmwareFile('b.bin', content);
    const sha = createHash('sha256').update(content).digest('hex');
    const res = await popClient(lab).call<{ Data: { FirmwareId: string } }>('CreateOTAFirmware', {
      ProductKey: lab.connection.productKey, FirmwareName: 'two-large', DestVersion: '2.0.0', SignMethod: 'SHA256',
      MultiFiles: [
        { Name: 'a.bin', Size: SIZE, Url: a.url, SignValue: step === -3 ? 'f'.repeat(64) : sha },
        { Name: 'b.bin', Size: SIZE, Url: step === -2 ? `${server.base}/b.bin` : b.url, SignValue: sha },
      ],
    });
    await createVerifyJob(lab, res.Data.FirmwareId, ['bench-01']);
    expect((await failureReceived(lab, 'bench-01')).step).toBe(step);
    // -3: both files were downloaded (two workers), the second never checked; -2: only the first had bytes.
    expect(await allWorkersGone()).toBe(step === -3 ? 2 : 1);
  });
});
