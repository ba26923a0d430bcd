// Resume: a dropped connection, the agent process SIGKILLed, and the lab (broker included) restarted.
import { afterAll, afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { addFirmware, createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, testAgent } from '../helpers/agent-fixtures.js';
import { addServedFirmware, labWithFirmwareServer, serveRange } from '../helpers/firmware-server.js';
import { observeLab } from '../helpers/observe-lab.js';
import { BIN, spawnCli } from '../helpers/processes.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });
afterAll(() => { expectNoSecretsIn(AGENT_LOG); });

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'agent-resume-'));
  cleanup.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** Resolves when the device's task has reported at least `pct` percent. */
async function progressAtLeast(lab: Lab, deviceName: string, pct: number): Promise<void> {
  const obs = await observeLab(lab);
  await obs.next((m) => m.kind === 'progress' && m.deviceName === deviceName && m.body.taskId !== undefined && m.body.step >= pct);
}

/** What a reader of the installed firmware finds (the simulated install copies it into the work dir). */
function installed(workDir: string): Promise<Buffer> {
  return readFile(join(workDir, 'installed', 'default', 'file-0.bin'));
}

/** Resolves when the agent has finished its upgrade (state saved, file installed). */
function agentDone(agent: Agent): Promise<unknown> {
  return new Promise((resolve) => agent.events.once('done', resolve));
}

describe('agent resume', () => {
  it('continues with Range from where its part file ended after the connection drops at half the file', async () => {
    // A firmware server that cuts after exactly half the body (the bytes are in the kernel before the
    // close, so the agent receives exactly them) and sees every request's Range: what is asserted is
    // what the agent asked for and what it was sent, not what a socket counter says (bytesWritten
    // counts bytes a loaded machine had not yet handed to the peer when the connection dropped).
    const { lab, server, workDir } = await labWithFirmwareServer(cleanup, 'agent-resume-');
    cleanup.push(() => rm(workDir, { recursive: true, force: true }));
    const agent: Agent = await testAgent(lab, 'bench-01', { workDir });
    cleanup.push(() => agent.close());
    await deviceStatus(lab, 'bench-01');
    const size = 4 * 1024 * 1024;
    // Random bytes: a resume from the wrong offset cannot pass the digest by luck (a uniform fill would).
    const content = randomBytes(size);
    /** The part file's size when the agent asked again: it asks only once the file is closed. */
    let onDiskAtResume = -1;
    server.handler = (req, res, seen) => {
      if (server.requests.length === 1) return serveRange(content, req, res, seen, size / 2);
      onDiskAtResume = statSync(join(workDir, 'downloads', 'default-2.0.0-0.part')).size;
      serveRange(content, req, res, seen);
    };
    const firmwareId = await addServedFirmware(lab, server, { path: '/fw.bin', size, content, version: '2.0.0' });
    const done = agentDone(agent);
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    await done;
    // One cut, one resume from exactly the bytes in the part file, and the agent wrote each byte of the
    // file once: what it kept of the first response plus the whole second one is the file.
    const [first, resume] = server.requests;
    expect(server.requests).toHaveLength(2);
    expect(first).toMatchObject({ rangeStart: undefined, bodyBytes: size / 2 });
    expect(onDiskAtResume).toBeGreaterThan(0);
    expect(onDiskAtResume).toBeLessThanOrEqual(size / 2);
    expect(resume).toMatchObject({ range: `bytes=${onDiskAtResume}-`, rangeStart: onDiskAtResume, bodyBytes: size - onDiskAtResume });
    expect(onDiskAtResume + (resume?.bodyBytes ?? 0)).toBe(size);
    expect((await installed(workDir)).equals(content)).toBe(true);
  });

  it('resumes after the agent process is SIGKILLed mid-download and restarted', async () => {
    const dir = await tmp();
    const labFile = join(dir, 'lab.json');
    const lab = await startLab({ deviceCount: 1, throttle: 'off', connectionFile: labFile });
    cleanup.push(() => lab.close());
    const workDir = join(dir, 'work');
    const args = ['run', '--lab', labFile, '--device', 'bench-01', '--work-dir', workDir, '--log-level', 'info'];
    const first = spawnCli(BIN.agent, args);
    cleanup.push(() => first.stop('SIGKILL'));
    await deviceStatus(lab, 'bench-01');
    const size = 8 * 1024 * 1024;
    const content = randomBytes(size);
    const { firmwareId } = await addFirmware(lab, { content });
    lab.setFault(firmwareId, { bytesPerSec: 4 * 1024 * 1024 });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await progressAtLeast(lab, 'bench-01', 20);
    await first.stop('SIGKILL');
    // The outage happened: killed by the signal, mid-download, with part of the file on disk.
    expect(first.child.signalCode).toBe('SIGKILL');
    const parts = await readdir(join(workDir, 'downloads'));
    expect(parts).toHaveLength(1);
    const partAtKill = (await stat(join(workDir, 'downloads', parts[0] as string))).size;
    expect(partAtKill).toBeGreaterThan(0);
    expect(partAtKill).toBeLessThan(size);
    const second = spawnCli(BIN.agent, args);
    cleanup.push(() => second.stop('SIGTERM'));
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    await second.waitFor(/"msg":"upgrade done"/);
    // The restarted agent fetched exactly what was missing from the part file, and installed the firmware.
    const fetched = [...second.stderr().matchAll(/"fetchedBytes":(\d+)/g)].map((m) => Number(m[1]));
    expect(fetched).toEqual([size - partAtKill]);
    expect((await installed(workDir)).equals(content)).toBe(true);
    expect(second.stderr()).toContain('resuming upgrade');
    expect(await second.stop('SIGTERM')).toBe(0);
    expectNoSecretsIn([first.stderr(), second.stderr()]);
    expect(second.stderr()).not.toContain(lab.connection.devices[0]?.deviceSecret ?? 'x');
  });

  it('reconnects and finishes when the lab, broker included, restarts mid-upgrade', async () => {
    const dir = await tmp();
    const stateDir = join(dir, 'state');
    const first = await startLab({ deviceCount: 1, throttle: 'off', stateDir });
    const port = (u: string) => Number(new URL(u.replace(/^mqtts?/, 'http')).port);
    const ports = { apiPort: port(first.connection.apiEndpoint), mqttPort: port(first.connection.mqttUrl), filePort: port(first.connection.fileServer) };
    const workDir = join(dir, 'work');
    const agent = await testAgent(first, 'bench-01', { downloadRetries: 30, workDir });
    cleanup.push(() => agent.close());
    await deviceStatus(first, 'bench-01');
    const size = 8 * 1024 * 1024;
    const content = randomBytes(size);
    const { firmwareId } = await addFirmware(first, { content });
    first.setFault(firmwareId, { bytesPerSec: 4 * 1024 * 1024 });
    await createVerifyJob(first, firmwareId, ['bench-01']);
    await progressAtLeast(first, 'bench-01', 15);
    await first.close();
    const second = await startLab({ deviceCount: 1, throttle: 'off', stateDir, ...ports });
    onTestFailed(() => {
      console.error(`agent log:\n${AGENT_LOG.slice(-30).join('')}\nlab tasks: ${JSON.stringify(second.store.state.tasks)}\ndevices: ${JSON.stringify(second.store.state.devices)}`);
    });
    cleanup.push(() => second.close());
    const done = agentDone(agent);
    const task = await taskReaches(second, 'bench-01', 'SUCCEEDED');
    expect(task.progress).toBe(100);
    await done;
    // The outage cut the download (the first lab served less than the file), the second lab served the rest.
    expect(first.files.bytesServed).toBeLessThan(size);
    expect(second.files.bytesServed).toBeGreaterThan(0);
    expect((await installed(workDir)).equals(content)).toBe(true);
  });
});
