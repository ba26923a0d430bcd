// The agent writes a download into its part file in calls of at most WRITE_CALL_MAX_BYTES: the kernel
// sizes page-cache pages by the write call, and large calls are several times slower on VMs that give
// free memory back to the host (agent/part-writer.ts). Those writes block the agent's thread, so the
// event loop must turn after each list. Read from the kernel's side: `ota-agent run` runs under strace,
// and every write call on the part file and every poll of the writing thread is counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { writeLabConnection } from '../../shared/lab-connection.js';
import { WRITE_BYTES, WRITE_CALL_MAX_BYTES, writeCalls } from '../../agent/part-writer.js';
import { BLOCK_BYTES } from '../../agent/block-pool.js';
import { HASH_WORKER_MIN_BYTES } from '../../agent/worker-digester.js';
import { addFirmware, createVerifyJob, taskReaches } from '../helpers/lab-fixtures.js';
import { versionKnown } from '../helpers/agent-fixtures.js';
import { BIN, spawnCli } from '../helpers/processes.js';

const KiB = 1024;

describe('writeCalls', () => {
  it('cuts a list into calls of at most the bound, in order, gathering small chunks and cutting large ones', () => {
    const list = [...Array.from({ length: 5 }, (_, i) => Buffer.alloc(16 * KiB, i)), randomBytes(200 * KiB), Buffer.from([9]), randomBytes(64 * KiB)];
    const calls = writeCalls(list, 64 * KiB);
    const sizes = calls.map((c) => c.reduce((n, b) => n + b.length, 0));
    const total = list.reduce((n, b) => n + b.length, 0);
    expect(Math.max(...sizes)).toBe(64 * KiB);
    // Every call but the last is full: no more calls than the bytes need.
    expect(sizes.slice(0, -1).every((n) => n === 64 * KiB)).toBe(true);
    expect(calls).toHaveLength(Math.ceil(total / (64 * KiB)));
    expect(Buffer.concat(calls.flat())).toEqual(Buffer.concat(list));
  });

  it('passes a chunk that fits whole as itself (no copy), and an empty list as no call', () => {
    const b = randomBytes(64 * KiB);
    expect(writeCalls([b], 64 * KiB)[0]?.[0]).toBe(b);
    expect(writeCalls([], 64 * KiB)).toEqual([]);
  });
});

/** From `strace -f -y`, in order: each write call on a file whose path ends with `suffix` (its
 *  result; `-s 0` prints no file data, so the result ends the line), and each event-loop poll
 *  (epoll wait), with the thread that made it. */
type TraceEvent = { tid: string; wrote: number } | { tid: string; poll: true };
function traceEvents(trace: string, suffix: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  const pending = new Set<string>();
  const result = / = (-?\d+)(?: E[A-Z0-9]+ \(.*\))?$/;
  for (const line of trace.split('\n')) {
    const tid = line.split(' ', 1)[0] ?? '';
    if (/ epoll_p?wait2?\(/.test(line)) {
      events.push({ tid, poll: true });
      continue;
    }
    const resumed = /<\.\.\. (?:p?writev?2?|pwrite64) resumed>/.test(line) ? result.exec(line) : null;
    if (resumed && pending.delete(tid)) {
      events.push({ tid, wrote: Number(resumed[1]) });
      continue;
    }
    if (!/ (?:p?writev?2?|pwrite64)\(\d+</.test(line) || !line.includes(`${suffix}>`)) continue;
    const done = result.exec(line);
    if (done) events.push({ tid, wrote: Number(done[1]) });
    else if (line.endsWith('<unfinished ...>')) pending.add(tid);
  }
  return events;
}

/** Bytes the writing thread wrote between two of its event-loop polls, for every turn that wrote. */
function bytesPerTurn(events: readonly TraceEvent[]): number[] {
  const writer = events.find((e) => 'wrote' in e)?.tid;
  const turns: number[] = [];
  let bytes = 0;
  for (const e of events) {
    if (e.tid !== writer) continue;
    if ('wrote' in e) bytes += e.wrote;
    else if (bytes > 0) {
      turns.push(bytes);
      bytes = 0;
    }
  }
  if (bytes > 0) turns.push(bytes);
  return turns;
}

/** The process strace runs (its only child), or undefined once there is none. */
async function tracedChild(stracePid: number | undefined): Promise<number | undefined> {
  if (stracePid === undefined) return undefined;
  const text = await readFile(`/proc/${stracePid}/task/${stracePid}/children`, 'utf8').catch(() => '');
  const pid = Number(text.trim().split(' ')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

describe('ota-agent run, seen by the kernel', () => {
  let lab: Lab;
  let dir: string;
  beforeAll(async () => {
    lab = await startLab({ deviceCount: 1, throttle: 'off' });
    dir = await mkdtemp(join(tmpdir(), 'agent-write-calls-'));
  });
  afterAll(async () => {
    await lab.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a large download in calls of at most WRITE_CALL_MAX_BYTES, every byte once', async () => {
    const labFile = join(dir, 'lab.json');
    await writeLabConnection(labFile, lab.connection);
    const trace = join(dir, 'strace.txt');
    // A size the worker hashes, odd so the last call is partial, and long enough for the socket to
    // hold several lists at the start of some turn.
    const content = randomBytes(3 * HASH_WORKER_MIN_BYTES + 4099);
    const { firmwareId } = await addFirmware(lab, { content });
    const agent = spawnCli(BIN.agent, ['run', '--lab', labFile, '--device', 'bench-01', '--work-dir', join(dir, 'work')], {
      env: { OTA_DEVICE_SECRET: '' },
      via: ['strace', '-f', '-y', '-qq', '-s', '0', '-e', 'trace=write,writev,pwrite64,pwritev,pwritev2,epoll_wait,epoll_pwait,epoll_pwait2', '-o', trace],
    });
    // An agent (or strace) that dies fails the test at once, saying why, instead of at its timeout.
    const orExit = <T>(p: Promise<T>) => Promise.race([p, agent.exited.then((code) => {
      throw new Error(`strace or the agent exited (${String(code)}): ${agent.stderr().slice(-2000)}`);
    })]);
    try {
      await orExit(versionKnown(lab, 'bench-01'));
      await createVerifyJob(lab, firmwareId, ['bench-01']);
      expect((await orExit(taskReaches(lab, 'bench-01', 'SUCCEEDED'))).status).toBe('SUCCEEDED');
    } finally {
      // The agent is strace's child: stopped as a user stops it (strace then exits with its code).
      const pid = await tracedChild(agent.child.pid);
      // No child: the agent is gone already (a kill(0) would signal this test runner's process group).
      if (pid === undefined) {
        await agent.stop('SIGKILL');
      } else {
        process.kill(pid, 'SIGTERM');
        expect(await agent.exited).toBe(0);
      }
    }
    const events = traceEvents(await readFile(trace, 'utf8'), '.part');
    const sizes = events.flatMap((e) => ('wrote' in e ? [e.wrote] : []));
    expect(sizes.reduce((n, s) => n + s, 0)).toBe(content.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(WRITE_CALL_MAX_BYTES);
    expect(sizes.length).toBeGreaterThanOrEqual(Math.ceil(content.length / WRITE_CALL_MAX_BYTES));
    // The writes block the agent's thread: the event loop (MQTT, timers, a stop) gets a turn after
    // each list (libuv reads a socket up to 32 times per turn, and all 32 were written at once). At
    // most two lists go between two polls: one read in the poll phase, one from the body's buffer in
    // the check phase. A list is WRITE_BYTES and at most one more chunk, of at most BLOCK_BYTES.
    const turns = bytesPerTurn(events);
    expect(Math.max(...turns), JSON.stringify(turns)).toBeLessThan(2 * (WRITE_BYTES + BLOCK_BYTES));
  });
});
