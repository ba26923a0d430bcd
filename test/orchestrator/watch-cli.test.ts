// `ota-verify watch` bounds a re-attached watch as `verify` bounds its own: --start-timeout-minutes
// (a bench that never starts) and --max-wait (the whole run). Real CLI processes against the lab.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFirmware, taskReaches } from '../helpers/lab-fixtures.js';
import { BIN, runCliToEnd } from '../helpers/processes.js';
import { parseXmlTags } from '../helpers/xml-check.js';
import { labWithBenches, runVerify } from '../helpers/verify-fixtures.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'watch-cli-')); });
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

interface Doc { verdict: string; exitCode: number; message: string | null; jobId: string | null; devices: { deviceName: string; status: string; desc: string }[] }
const docOf = (stdout: string) => JSON.parse(stdout) as Doc;

/** Create the job without watching it, as a CI step that re-attaches later would. */
async function createdJob(labFile: string, firmwareId: string, devices: string): Promise<string> {
  const r = await runVerify(labFile, firmwareId, devices, ['--no-wait']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

const watch = (labFile: string, jobId: string, extra: string[]) =>
  runCliToEnd(BIN.verify, ['watch', jobId, '--lab', labFile, '--poll-min-ms', '200', '--poll-max-ms', '1000', ...extra]);

describe('ota-verify watch', () => {
  it('fails a bench that never starts after --start-timeout-minutes, cancels its task, and says so in JSON and JUnit', async () => {
    // bench-02 exists but no agent runs for it: its notice waits forever on the platform.
    const { lab, labFile } = await labWithBenches(dir, cleanup, 2, { running: 1 });
    const { firmwareId } = await addFirmware(lab);
    const jobId = await createdJob(labFile, firmwareId, 'bench-01,bench-02');
    const junit = join(dir, 'watch-never.xml');
    const r = await watch(labFile, jobId, ['--start-timeout-minutes', '0.05', '--json', '--junit', junit]);
    expect(r.code, r.stderr).toBe(1);
    const doc = docOf(r.stdout);
    expect(doc).toMatchObject({ verdict: 'failed', exitCode: 1, jobId });
    expect(doc.devices.find((d) => d.deviceName === 'bench-02')).toMatchObject({ status: 'FAILED', desc: expect.stringMatching(/^never started: offline or agent not running \(no progress within 0\.05 min/) as unknown });
    expect(doc.devices.find((d) => d.deviceName === 'bench-01')?.status).toBe('SUCCEEDED');
    expect(r.stderr).toMatch(/FAILED bench-02: never started/);
    expect(lab.store.state.tasks.find((t) => t.deviceName === 'bench-02')?.status).toBe('CANCELED');
    const failures = parseXmlTags(await readFile(junit, 'utf8')).filter((e) => e.name === 'failure');
    expect(failures.map((f) => f.attrs.message)).toEqual([expect.stringMatching(/never started/)]);
  });

  it('ends the run at --max-wait: unfinished benches fail, the job\'s tasks are cancelled, exit 1 with the reason', async () => {
    const { lab, labFile } = await labWithBenches(dir, cleanup, 1, { agent: { simulateInstall: false, installCommand: 'sleep 30' } });
    const { firmwareId } = await addFirmware(lab);
    const jobId = await createdJob(labFile, firmwareId, 'bench-01');
    await taskReaches(lab, 'bench-01', 'IN_PROGRESS');
    const junit = join(dir, 'watch-maxwait.xml');
    const r = await watch(labFile, jobId, ['--max-wait', '0.02', '--start-timeout-minutes', '0', '--json', '--junit', junit]);
    expect(r.code, r.stderr).toBe(1);
    const doc = docOf(r.stdout);
    expect(doc).toMatchObject({ verdict: 'failed', exitCode: 1, message: `not finished within --max-wait; the unfinished tasks of job ${jobId} are cancelled` });
    expect(doc.devices).toMatchObject([{ deviceName: 'bench-01', status: 'FAILED', desc: 'not finished within --max-wait' }]);
    expect(lab.store.state.tasks.find((t) => t.deviceName === 'bench-01')?.status).toBe('CANCELED');
    expect(parseXmlTags(await readFile(junit, 'utf8')).filter((e) => e.name === 'failure')).toHaveLength(1);
  });

  it('refuses a bad bound before any call: exit 2, the flag named, the JSON report written', async () => {
    const r = await runCliToEnd(BIN.verify, ['watch', 'J1', '--lab', join(dir, 'none.json'), '--max-wait', '0', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('ota-verify: --max-wait-minutes 0 is not valid: expected minutes from 0.01 to 10080 (fractions allowed)');
    expect(docOf(r.stdout)).toMatchObject({ verdict: 'refused', exitCode: 2, jobId: 'J1' });
  });
});
