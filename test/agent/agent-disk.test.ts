// The work directory's disk: full before the download, full during it, a state save that fails,
// a read-only mount. Real tmpfs mounts (root only: skipped otherwise), the real CLI where the
// question is "does the process survive / exit".
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { addFirmware, createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, stepReached, testAgent } from '../helpers/agent-fixtures.js';
import { addServedFirmware, recordSteps, startFirmwareServer } from '../helpers/firmware-server.js';
import { BIN, runCliToEnd, spawnCli } from '../helpers/processes.js';

const isRoot = process.getuid?.() === 0;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  expectNoSecretsIn(AGENT_LOG);
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'agent-disk-'));
  cleanup.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** A real tmpfs of `size` at `dir`, unmounted by the cleanup (after whatever is pushed later). */
async function tmpfs(dir: string, options: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  cleanup.push(() => Promise.resolve(execFileSync('umount', [dir])));
}

async function labWithFile(dir: string): Promise<{ lab: Lab; labFile: string }> {
  const labFile = join(dir, 'lab.json');
  const lab = await startLab({ deviceCount: 1, throttle: 'off', connectionFile: labFile });
  cleanup.push(() => lab.close());
  return { lab, labFile };
}

/** A lab and an in-process agent on it, online, with the steps the lab receives recorded. */
async function inProcessAgent() {
  const dir = await tmp();
  const lab = await startLab({ deviceCount: 1, throttle: 'off' });
  cleanup.push(() => lab.close());
  const steps = await recordSteps(lab, 'bench-01');
  const workDir = join(dir, 'work');
  const agent = await testAgent(lab, 'bench-01', { workDir });
  cleanup.push(() => agent.close());
  await deviceStatus(lab, 'bench-01');
  return { lab, steps, workDir, agent };
}

describe('agent and its disk', () => {
  it.skipIf(!isRoot)('-2 when the work dir cannot hold the firmware, -2 on ENOSPC mid-download; the process survives and takes the next notice', async () => {
    const dir = await tmp();
    const work = join(dir, 'work');
    await tmpfs(work, 'size=5m');
    const { lab } = await labWithFile(dir);
    const steps = await recordSteps(lab, 'bench-01');
    /** The task's end, or a failure as soon as the agent process dies. */
    const taskOrExit = (status: 'FAILED' | 'SUCCEEDED') => Promise.race([
      taskReaches(lab, 'bench-01', status),
      agent.exited.then((code) => { throw new Error(`the agent exited (${code}) instead of reporting`); }),
    ]);
    // A bench config (progress unthrottled, so the lab sees each step as the bytes land).
    const c = lab.connection;
    const config = join(dir, 'bench.json');
    await writeFile(config, JSON.stringify({
      productKey: c.productKey, deviceName: 'bench-01', mqttUrl: c.mqttUrl, tls: false, allowInsecureHttp: true, simulateInstall: true,
      workDir: work, modules: [{ name: 'default', version: '1.0.0' }], progressMinIntervalMs: 0, logLevel: 'info',
    }));
    const agent = spawnCli(BIN.agent, ['run', '--config', config], { env: { OTA_DEVICE_SECRET: c.devices[0]?.deviceSecret ?? '' } });
    cleanup.push(() => agent.stop('SIGKILL'));
    onTestFailed(() => { console.error(`agent stderr:\n${agent.stderr().slice(-4000)}\nsteps: ${JSON.stringify(steps)}`); });
    await deviceStatus(lab, 'bench-01');

    // 1. Ten MiB for a five MiB disk: refused before a byte is fetched.
    const big = await addFirmware(lab, { content: randomBytes(10 * 1024 * 1024), version: '2.0.0' });
    await createVerifyJob(lab, big.firmwareId, ['bench-01']);
    const t1 = await taskOrExit('FAILED');
    expect(t1.taskDesc).toMatch(/^not enough space: need 10485760, free \d+$/);
    expect(steps.at(-1)?.step).toBe(-2);
    expect(lab.files.bytesServed).toBe(0);

    // 2. Fits when it starts; the disk fills up under it after the first MiB.
    const size = 3 * 1024 * 1024;
    const content = randomBytes(size);
    const server = await startFirmwareServer(() => undefined);
    cleanup.push(() => server.close());
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    let firstMiBSent!: () => void;
    const sent = new Promise<void>((resolve) => { firstMiBSent = resolve; });
    server.handler = async (_req, res) => {
      res.writeHead(200, { 'content-length': size });
      res.write(content.subarray(0, 1024 * 1024), () => firstMiBSent());
      await released;
      res.end(content.subarray(1024 * 1024));
    };
    const fw = await addServedFirmware(lab, server, { path: '/fw', size, content, version: '2.0.1' });
    // 1 MiB of 3 MiB is 26 % of the download's 80 %: the agent has written the first MiB.
    const firstMiBWritten = stepReached(lab, 'bench-01', 25);
    await createVerifyJob(lab, fw, ['bench-01']);
    await sent;
    await firstMiBWritten;
    // Take every free byte: the next download write and the failure path's state save both hit ENOSPC.
    const fs = await statfs(work);
    await writeFile(join(work, 'filler'), Buffer.alloc(fs.bavail * fs.bsize)).catch(() => undefined);
    release();
    const t2 = await taskOrExit('FAILED');
    expect(steps.at(-1)?.step).toBe(-2);
    expect(t2.taskDesc).toMatch(/^cannot write the download: ENOSPC/);
    // The disk was full for the failure path's own state save too (and that did not stop the agent).
    await agent.waitFor(/cannot save the failed upgrade state/);
    expect(agent.child.exitCode).toBeNull();

    // 3. Space again: the same process takes the next notice and succeeds.
    await rm(join(work, 'filler'));
    const small = await addFirmware(lab, { version: '2.0.2' });
    await createVerifyJob(lab, small.firmwareId, ['bench-01']);
    await taskOrExit('SUCCEEDED');
    expect(agent.child.exitCode).toBeNull();

    // 4. A stop while the disk is full again is still a clean stop (exit 0, not 1): only the last state save fails.
    const full = await statfs(work);
    await writeFile(join(work, 'filler'), Buffer.alloc(full.bavail * full.bsize)).catch(() => undefined);
    expect(await agent.stop('SIGTERM')).toBe(0);
    expect(agent.stderr()).not.toMatch(/Unhandled|ENOSPC.*\n.*at /);
  }, 60_000);

  it.skipIf(!isRoot)('ota-agent run exits 2 with a clear message when the work dir is on a read-only mount', async () => {
    const dir = await tmp();
    const { labFile } = await labWithFile(dir);
    const ro = join(dir, 'ro');
    await tmpfs(ro, 'size=1m,ro');
    for (const workDir of [ro, join(ro, 'missing', 'work')]) {
      const r = await runCliToEnd(BIN.agent, ['run', '--lab', labFile, '--device', 'bench-01', '--work-dir', workDir]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`work dir ${workDir} is not writable: EROFS`);
    }
  }, 60_000);

  it('-2 on a write error without root: the part file is /dev/full', async () => {
    const { lab, steps, workDir } = await inProcessAgent();
    // Every write to the part file fails with ENOSPC, as on a full disk.
    await symlink('/dev/full', join(workDir, 'downloads', 'default-2.0.0-0.part'));
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    expect((await taskReaches(lab, 'bench-01', 'FAILED')).taskDesc).toMatch(/^cannot write the download: ENOSPC/);
    expect(steps.at(-1)?.step).toBe(-2);
    // And the agent takes the next notice.
    const next = await addFirmware(lab, { version: '2.0.1' });
    await createVerifyJob(lab, next.firmwareId, ['bench-01']);
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
  }, 60_000);

  it('one failed state save does not fail the saves after it', async () => {
    const { lab, steps, workDir, agent } = await inProcessAgent();
    // A directory where the state's temp file goes: every save fails while it is there.
    const blocker = join(workDir, `agent-state.json.${process.pid}.tmp`);
    await mkdir(blocker);
    const first = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, first.firmwareId, ['bench-01']);
    expect((await taskReaches(lab, 'bench-01', 'FAILED')).taskDesc).toMatch(/^cannot save the upgrade state: EISDIR/);
    expect(steps.at(-1)?.step).toBe(-2);
    await rm(blocker, { recursive: true });
    const second = await addFirmware(lab, { version: '2.0.1' });
    const done = new Promise((resolve) => agent.events.once('done', resolve));
    await createVerifyJob(lab, second.firmwareId, ['bench-01']);
    const end = await Promise.race([taskReaches(lab, 'bench-01', 'SUCCEEDED'), taskReaches(lab, 'bench-01', 'FAILED')]);
    expect(end).toMatchObject({ status: 'SUCCEEDED' });
    await done;
    // What a reader of the work dir sees: the second upgrade, done, in a file only the agent's user reads.
    const file = join(workDir, 'agent-state.json');
    const saved = JSON.parse(await readFile(file, 'utf8')) as { versions: Record<string, string>; upgrades: Record<string, { state: string; version: string }> };
    expect(saved.upgrades.default).toMatchObject({ state: 'done', version: '2.0.1' });
    expect(saved.versions.default).toBe('2.0.1');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  }, 60_000);
});

