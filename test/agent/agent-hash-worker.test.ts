// A large download hashes on a worker thread. That thread can fail or be cut short by a shutdown:
// the platform must hear a failed download (-2) rather than the agent dying or hanging, and a
// shutdown must leave no thread behind and a part file the next start resumes from exactly.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readlinkSync, readdirSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import type * as WorkerThreads from 'node:worker_threads';
import type { Worker as NodeWorker } from 'node:worker_threads';
import type { Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { WORKER_MIN_BYTES } from '../../agent/hash-worker.js';
import { createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, testAgent } from '../helpers/agent-fixtures.js';
import { addServedFirmware, labWithFirmwareServer, recordSteps, serveRange } from '../helpers/firmware-server.js';

// Every worker thread the agent starts, seen from the test (the agent's code is unchanged).
const workers = vi.hoisted(() => [] as NodeWorker[]);
vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof WorkerThreads>();
  class SeenWorker extends real.Worker {
    constructor(...args: ConstructorParameters<typeof real.Worker>) {
      super(...args);
      workers.push(this);
    }
  }
  return { ...real, Worker: SeenWorker };
});

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  workers.length = 0;
  expectNoSecretsIn(AGENT_LOG);
});

const setUp = () => labWithFirmwareServer(cleanup, 'agent-hw-');

async function agentOn(lab: Lab, workDir: string): Promise<Agent> {
  const agent = await testAgent(lab, 'bench-01', { workDir, downloadRetries: 0 });
  cleanup.push(() => agent.close());
  return agent;
}

const until = async (cond: () => boolean) => { while (!cond()) await new Promise((r) => setTimeout(r, 10)); };
const exited = (w: NodeWorker) => new Promise<void>((r) => { if (w.threadId === -1) r(); else w.once('exit', () => r()); });
/** Whether this process holds the file open. */
const holdsOpen = (path: string) => readdirSync('/proc/self/fd').some((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`) === path; } catch { return false; } });

// Large enough for the worker; the body trickles so the test acts while the download is under way.
const size = WORKER_MIN_BYTES + 1024 * 1024;

function trickle(content: Buffer, res: ServerResponse, from: number, stopAt: number): void {
  let at = from;
  const next = () => {
    if (res.destroyed || at >= stopAt) return;
    const end = Math.min(at + 256 * 1024, stopAt);
    res.write(content.subarray(at, end), () => setTimeout(next, 5));
    at = end;
  };
  next();
}

describe('agent hash worker', () => {
  it('-2 when the hash worker dies mid-download; the agent stays up and completes the next notice', async () => {
    const { lab, server, workDir } = await setUp();
    const steps = await recordSteps(lab, 'bench-01');
    const content = randomBytes(size);
    server.handler = (req, res, seen) => {
      if (seen.path === '/ok') return serveRange(content, req, res, seen);
      res.writeHead(200, { 'content-length': size });
      trickle(content, res, 0, size);
    };
    await agentOn(lab, workDir);
    await deviceStatus(lab, 'bench-01');
    const fw = await addServedFirmware(lab, server, { path: '/crash', size, content, version: '2.0.0' });
    await createVerifyJob(lab, fw, ['bench-01']);
    await until(() => workers.length === 1);
    // A message the worker does not know makes it throw: the thread dies with an error.
    workers[0]?.postMessage({ type: 'not-a-block' });
    const task = await taskReaches(lab, 'bench-01', 'FAILED');
    expect(steps.at(-1)?.step).toBe(-2);
    expect(task.taskDesc).toMatch(/hash worker/);
    await exited(workers[0] as NodeWorker);
    // The same process takes the next notice and finishes it on a fresh worker.
    const fw2 = await addServedFirmware(lab, server, { path: '/ok', size, content, version: '2.0.1' });
    await createVerifyJob(lab, fw2, ['bench-01']);
    await until(() => steps.at(-1)?.step === 100);
    expect(workers).toHaveLength(2);
    await exited(workers[1] as NodeWorker);
  }, 120_000);

  it('close() mid-download stops the worker and closes the part file; the next start resumes from it to a good digest', async () => {
    const { lab, server, workDir } = await setUp();
    const steps = await recordSteps(lab, 'bench-01');
    const content = randomBytes(size);
    const asked: (number | undefined)[] = [];
    server.handler = (req, res, seen) => {
      asked.push(seen.rangeStart);
      if (asked.length > 1) return serveRange(content, req, res, seen);
      // The first answer sends 8 MiB and then holds the connection open.
      res.writeHead(200, { 'content-length': size });
      trickle(content, res, 0, 8 * 1024 * 1024);
    };
    const first = await agentOn(lab, workDir);
    await deviceStatus(lab, 'bench-01');
    const fw = await addServedFirmware(lab, server, { path: '/big', size, content, version: '2.0.0' });
    await createVerifyJob(lab, fw, ['bench-01']);
    const part = join(workDir, 'downloads', 'default-2.0.0-0.part');
    await until(() => workers.length === 1 && statSync(part, { throwIfNoEntry: false })?.size === 8 * 1024 * 1024);
    await first.close();
    expect(workers[0]?.threadId).toBe(-1);
    expect(holdsOpen(part)).toBe(false);
    const onDisk = statSync(part).size;
    expect(onDisk).toBe(8 * 1024 * 1024);
    // The next start re-reads the part file into a fresh digest and asks only for what is missing.
    await agentOn(lab, workDir);
    await until(() => steps.at(-1)?.step === 100 || (steps.at(-1)?.step ?? 0) < 0);
    expect(steps.at(-1)?.step).toBe(100);
    expect(asked).toEqual([undefined, onDisk]);
    for (const w of workers) await exited(w);
  }, 120_000);
});
