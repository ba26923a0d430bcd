// Honest verdicts (issue 12), as a user meets them: the built `ota-verify` against the lab with
// in-process agents. Each case checks what the platform side holds afterwards (jobs, tasks), the exit
// code and the reports written.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFirmware, createVerifyJob, popClient, taskReaches } from '../helpers/lab-fixtures.js';
import { BIN, runCliToEnd, spawnCli } from '../helpers/processes.js';
import { parseXmlTags } from '../helpers/xml-check.js';
import { labWithBenches, runVerify } from '../helpers/verify-fixtures.js';
import { writeLabConnection } from '../../shared/lab-connection.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'verify-verdicts-')); });
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

interface Doc { schema: string; verdict: string; exitCode: number; message: string | null; jobId: string | null; firmwareStatus: number | null; devices: { deviceName: string; status: string; platformStatus: string; desc: string }[] }
const docOf = (stdout: string) => JSON.parse(stdout) as Doc;

describe('benches already on the destination version', () => {
  it('refuses before creating when every bench runs it (exit 2, JSON and JUnit say so)', async () => {
    const { lab, labFile } = await labWithBenches(dir, cleanup, 2, { versionOf: () => '2.0.0' });
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    const junit = join(dir, 'current.xml');
    const r = await runVerify(labFile, firmwareId, 'bench-01,bench-02', ['--json', '--junit', junit]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/every bench already runs 2\.0\.0 \(bench-01, bench-02\)/);
    expect(docOf(r.stdout)).toMatchObject({ verdict: 'refused', exitCode: 2, firmwareStatus: 0, jobId: null });
    expect(docOf(r.stdout).message).toMatch(/every bench already runs/);
    expect(lab.store.state.jobs).toHaveLength(0);
    const xml = parseXmlTags(await readFile(junit, 'utf8'));
    expect(xml.filter((e) => e.name === 'error').map((e) => e.attrs.message)).toHaveLength(2);
  });

  it('refuses when some run it; --skip-current verifies on the others and says which it dropped', async () => {
    const { lab, labFile } = await labWithBenches(dir, cleanup, 2, { versionOf: (n) => (n === 'bench-02' ? '2.0.0' : '1.0.0') });
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    const r = await runVerify(labFile, firmwareId, 'bench-01,bench-02');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already on 2\.0\.0: bench-02/);
    expect(lab.store.state.jobs).toHaveLength(0);
    const skip = await runVerify(labFile, firmwareId, 'bench-01,bench-02', ['--skip-current', '--json']);
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.stderr).toMatch(/skipping bench-02: already on 2\.0\.0/);
    expect(docOf(skip.stdout)).toMatchObject({ verdict: 'verified', firmwareStatus: 1 });
    expect(lab.store.state.jobs[0]?.targetDeviceNames).toEqual(['bench-01']);
  });
});

it('refuses a delta package on a bench not on its SrcVersion, naming the version', async () => {
  const { lab, labFile } = await labWithBenches(dir, cleanup, 1);
  const stored = await lab.putFirmwareFile('delta.bin', Buffer.from('delta'));
  const fw = await popClient(lab).call<{ Data: { FirmwareId: string } }>('CreateOTAFirmware', {
    ProductKey: lab.connection.productKey, FirmwareName: 'delta', DestVersion: '2.0.0', SrcVersion: '1.5.0', Type: 1,
    FirmwareUrl: stored.url, FirmwareSign: '0'.repeat(64), SignMethod: 'SHA256', FirmwareSize: 5,
  });
  const r = await runVerify(labFile, fw.Data.FirmwareId, 'bench-01', ['--json']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/delta package from 1\.5\.0: bench-01 runs 1\.0\.0/);
  expect(docOf(r.stdout).verdict).toBe('refused');
  expect(lab.store.state.jobs).toHaveLength(0);
});

describe('a job already running for the firmware', () => {
  it('attaches only when it tests every bench asked; otherwise exit 2 naming the missing ones and the job', async () => {
    // The install waits for a gate file, so the first job is still running when the wider run looks.
    const gate = join(dir, `gate-${Math.random().toString(36).slice(2)}`);
    const { lab, labFile } = await labWithBenches(dir, cleanup, 2, { agent: { simulateInstall: false, installCommand: `while [ ! -e ${gate} ]; do sleep 0.1; done` } });
    const { firmwareId } = await addFirmware(lab);
    const jobId = await createVerifyJob(lab, firmwareId, ['bench-01']);
    const wider = await runVerify(labFile, firmwareId, 'bench-01,bench-02', ['--json']);
    expect(wider.code).toBe(2);
    expect(wider.stderr).toContain(`being verified by job ${jobId}, which does not test bench-02`);
    expect(docOf(wider.stdout)).toMatchObject({ verdict: 'refused', firmwareStatus: 2 });
    await writeFile(gate, '');
    const same = await runVerify(labFile, firmwareId, 'bench-01', ['--json']);
    expect(same.code, same.stderr).toBe(0);
    expect(docOf(same.stdout)).toMatchObject({ verdict: 'verified', jobId });
    expect(lab.store.state.jobs).toHaveLength(1);
  });
});

describe('two runs at once', () => {
  it('five rounds of two racing processes: one job, both exit 0 with the same verdict, no false warnings', async () => {
    const { lab, labFile } = await labWithBenches(dir, cleanup, 2);
    for (let round = 1; round <= 5; round++) {
      const { firmwareId } = await addFirmware(lab, { version: `2.0.${round}` });
      const args = ['verify', '--lab', labFile, '--firmware-id', firmwareId, '--devices', 'bench-01,bench-02', '--poll-min-ms', '200', '--json'];
      const a = spawnCli(BIN.verify, args);
      const b = spawnCli(BIN.verify, args);
      cleanup.push(() => a.stop('SIGKILL'), () => b.stop('SIGKILL'));
      const codes = await Promise.all([a.exited, b.exited]);
      expect(codes, `round ${round}:\n${a.stderr()}\n${b.stderr()}`).toEqual([0, 0]);
      const [da, db] = [docOf(a.stdout()), docOf(b.stdout())];
      expect(da.verdict).toBe('verified');
      expect(db.verdict).toBe(da.verdict);
      expect(db.jobId).toBe(da.jobId);
      expect(lab.store.state.jobs.filter((j) => j.firmwareId === firmwareId)).toHaveLength(1);
      expect(a.stderr() + b.stderr()).not.toMatch(/already runs|already on/);
    }
  });
});

describe('a bench that never takes the notice', () => {
  it('fails it after --start-timeout-minutes, cancels its task, and says so in the summary, JSON and JUnit', async () => {
    // bench-02 exists but no agent runs for it: offline, the notice waits forever on the platform.
    const { lab, labFile } = await labWithBenches(dir, cleanup, 2, { running: 1 });
    const { firmwareId } = await addFirmware(lab);
    const junit = join(dir, 'never.xml');
    const r = await runVerify(labFile, firmwareId, 'bench-01,bench-02', ['--start-timeout-minutes', '0.05', '--json', '--junit', junit]);
    expect(r.code, r.stderr).toBe(1);
    const doc = docOf(r.stdout);
    expect(doc.verdict).toBe('failed');
    expect(doc.devices.find((d) => d.deviceName === 'bench-02')).toMatchObject({ status: 'FAILED', desc: expect.stringMatching(/^never started: offline or agent not running/) as unknown });
    expect(doc.devices.find((d) => d.deviceName === 'bench-01')?.status).toBe('SUCCEEDED');
    expect(r.stderr).toMatch(/FAILED bench-02: never started/);
    // The platform side: the task was cancelled.
    expect(lab.store.state.tasks.find((t) => t.deviceName === 'bench-02')?.status).toBe('CANCELED');
    const failures = parseXmlTags(await readFile(junit, 'utf8')).filter((e) => e.name === 'failure');
    expect(failures.map((f) => f.attrs.message)).toEqual([expect.stringMatching(/never started/)]);
  });
});

describe('reports on every exit', () => {
  it('writes JSON and JUnit on exit 3 (platform unreachable) with the message, in one line with a hint', async () => {
    const { lab, labFile } = await labWithBenches(dir, cleanup, 1);
    const { firmwareId } = await addFirmware(lab);
    await lab.close();
    // A lab that died (SIGKILL) leaves its connection file behind; a clean close removes it.
    await writeLabConnection(labFile, lab.connection);
    const junit = join(dir, 'down.xml');
    const r = await runVerify(labFile, firmwareId, 'bench-01', ['--json', '--junit', junit]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot reach the lab of .* at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): the lab that wrote it \(pid \d+\) still runs but does not answer/);
    expect(docOf(r.stdout)).toMatchObject({ verdict: 'error', exitCode: 3, devices: [{ deviceName: 'bench-01' }] });
    expect(parseXmlTags(await readFile(junit, 'utf8')).filter((e) => e.name === 'error')).toHaveLength(1);
  });

  it('marks unfinished benches skipped in JUnit when the watch is stopped (exit 4)', async () => {
    const { lab, labFile } = await labWithBenches(dir, cleanup, 1, { agent: { simulateInstall: false, installCommand: 'sleep 30' } });
    const { firmwareId } = await addFirmware(lab);
    const junit = join(dir, 'stopped.xml');
    const run = spawnCli(BIN.verify, ['verify', '--lab', labFile, '--firmware-id', firmwareId, '--devices', 'bench-01', '--poll-min-ms', '200', '--json', '--junit', junit]);
    cleanup.push(() => run.stop('SIGKILL'));
    await taskReaches(lab, 'bench-01', 'IN_PROGRESS');
    await run.waitFor(/bench-01 .*IN_PROGRESS/);
    expect(await run.stop('SIGINT')).toBe(4);
    expect(docOf(run.stdout())).toMatchObject({ verdict: 'stopped', exitCode: 4 });
    const xml = parseXmlTags(await readFile(junit, 'utf8'));
    expect(xml.filter((e) => e.name === 'skipped')).toHaveLength(1);
    expect(xml.filter((e) => e.name === 'failure')).toHaveLength(0);
    expect(run.stderr()).toMatch(/ota-verify watch \S+ --lab /);
  });

  it('writes them on a usage error found before the command runs (a missing or bad flag): exit 2, verdict refused', async () => {
    const junit = join(dir, 'usage.xml');
    const r = await runCliToEnd(BIN.verify, ['verify', '--devices', 'bench-01,bench-02', '--json', '--junit', junit]);
    expect(r.code).toBe(2);
    expect(docOf(r.stdout)).toMatchObject({ verdict: 'refused', exitCode: 2, devices: [{ deviceName: 'bench-01' }, { deviceName: 'bench-02' }] });
    expect(docOf(r.stdout).message).toMatch(/firmware-id/);
    expect(parseXmlTags(await readFile(junit, 'utf8')).filter((e) => e.name === 'error')).toHaveLength(2);
    const bad = await runCliToEnd(BIN.verify, ['verify', '--firmware-id', 'fw', '--devices', 'bench-01', '--start-timeout-minutes', '-1', '--json']);
    expect(bad.code).toBe(2);
    expect(docOf(bad.stdout).message).toMatch(/--start-timeout-minutes -1 is not valid/);
  });

  it('exits 2 on --endpoint that is not a URL, and firmwareStatus is the value read for already-verified', async () => {
    const { lab, labFile } = await labWithBenches(dir, cleanup, 1);
    const bad = await runCliToEnd(BIN.verify, ['verify', '--endpoint', 'notaurl', '--region', 'cn-shanghai', '--product-key', 'pk', '--firmware-id', 'fw', '--devices', 'bench-01'], { env: { ALIBABA_CLOUD_ACCESS_KEY_ID: 'id', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'secret' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--endpoint "notaurl" is not a URL/);
    const none = await addFirmware(lab, { needToVerify: false });
    const r = await runVerify(labFile, none.firmwareId, 'bench-01', ['--json']);
    expect(docOf(r.stdout)).toMatchObject({ verdict: 'no-verification-needed', firmwareStatus: -1 });
  });
});
