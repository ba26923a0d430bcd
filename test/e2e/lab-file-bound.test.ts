// lab.json is bounded by what the lab can write: the file of the largest lab (--devices 100000, about
// 10 MiB) is read by every CLI and by a lab restarted over it after a crash; a file over the bound is
// refused before it is read, in the same words as any file that is too large. Real CLI processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB_DEVICES_MAX, LAB_FILE_MAX_BYTES, readLabConnection } from '../../shared/lab-connection.js';
import { BIN, runCliToEnd, spawnCli, type Spawned } from '../helpers/processes.js';

let dir: string;
let lab: Spawned | undefined;
/** The file the largest lab wrote, and its size. */
let biggest: string;
let biggestBytes: number;

async function startBiggest(): Promise<Spawned> {
  const p = spawnCli(BIN.lab, ['start', '--devices', String(LAB_DEVICES_MAX), '--throttle', 'off', '--connection-file', 'big.json', '--log-level', 'warn'], { cwd: dir });
  await p.waitFor(/Press Ctrl-C to stop|ota-lab: .*/);
  return p;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lab-file-bound-'));
  lab = await startBiggest();
  expect(lab.stdout(), lab.stderr()).toContain('Press Ctrl-C to stop');
  biggest = await readFile(join(dir, 'big.json'), 'utf8');
  biggestBytes = (await stat(join(dir, 'big.json'))).size;
});
afterAll(async () => {
  await lab?.stop('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

const run = (bin: keyof typeof BIN, args: string[]) => runCliToEnd(BIN[bin], args, { cwd: dir });

describe('the lab.json of the largest lab', () => {
  it('fits the bound, and every CLI reads it', async () => {
    expect(biggestBytes).toBeGreaterThan(1024 * 1024);
    expect(biggestBytes).toBeLessThanOrEqual(LAB_FILE_MAX_BYTES);
    const list = await run('lab', ['firmware', 'list', '--lab', 'big.json']);
    expect(list.code, list.stderr).toBe(0);
    const check = await run('agent', ['check', '--lab', 'big.json', '--device', `bench-${LAB_DEVICES_MAX}`, '--work-dir', 'w']);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain(`/bench-${LAB_DEVICES_MAX} connected to`);
    // A job that does not exist is the platform's refusal (exit 2 after the call), not the file's.
    const status = await run('verify', ['status', 'J1', '--lab', 'big.json']);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('job J1 does not exist');
  });

  it('a lab restarted over it after a crash takes it over (it was refused as "not a connection file" over 1 MiB)', async () => {
    await lab?.stop('SIGKILL');
    lab = await startBiggest();
    expect(lab.stdout(), lab.stderr()).toContain('Press Ctrl-C to stop');
    expect((await readLabConnection(join(dir, 'big.json'))).pid).toBe(lab.child.pid);
  });
});

describe('at and over the bound', () => {
  it('a file of exactly the bound is read; one byte more is refused before it is read, exit 2, in the usual words', async () => {
    // The running biggest lab's file padded with trailing white space (still the same JSON) up to the bound.
    biggest = await readFile(join(dir, 'big.json'), 'utf8');
    await writeFile(join(dir, 'at.json'), biggest);
    await appendFile(join(dir, 'at.json'), ' '.repeat(LAB_FILE_MAX_BYTES - Buffer.byteLength(biggest)));
    expect((await stat(join(dir, 'at.json'))).size).toBe(LAB_FILE_MAX_BYTES);
    const at = await run('lab', ['firmware', 'list', '--lab', 'at.json']);
    expect(at.code, at.stderr).toBe(0);
    await writeFile(join(dir, 'over.json'), biggest);
    await appendFile(join(dir, 'over.json'), ' '.repeat(LAB_FILE_MAX_BYTES + 1 - Buffer.byteLength(biggest)));
    const words = `is ${LAB_FILE_MAX_BYTES + 1} bytes: more than the ${LAB_FILE_MAX_BYTES} bytes a lab connection file can be`;
    for (const [bin, args] of [
      ['lab', ['firmware', 'list', '--lab', 'over.json']],
      ['verify', ['status', 'J1', '--lab', 'over.json']],
      ['agent', ['check', '--lab', 'over.json', '--device', 'bench-01', '--work-dir', 'w']],
    ] as const) {
      const r = await run(bin, [...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`ota-${bin}: lab connection file over.json ${words}`, '  expected: the lab.json written by `ota-lab start`']);
    }
  });

  it('ota-lab start will not overwrite a file over the bound (not a lab\'s): exit 2, the file kept', async () => {
    await writeFile(join(dir, 'over-start.json'), biggest);
    await appendFile(join(dir, 'over-start.json'), ' '.repeat(LAB_FILE_MAX_BYTES + 1 - Buffer.byteLength(biggest)));
    const p = spawnCli(BIN.lab, ['start', '--connection-file', 'over-start.json'], { cwd: dir });
    // Had it started (the bug), stop it so the test fails on its exit code instead of hanging.
    void p.waitFor(/Press Ctrl-C to stop/).then(() => p.stop('SIGKILL'), () => undefined);
    const r = { code: await p.exited, stderr: p.stderr() };
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`will not overwrite ${join(dir, 'over-start.json')}: it is ${LAB_FILE_MAX_BYTES + 1} bytes, more than the ${LAB_FILE_MAX_BYTES} a lab connection file can be`);
    expect((await stat(join(dir, 'over-start.json'))).size).toBe(LAB_FILE_MAX_BYTES + 1);
  });
});
