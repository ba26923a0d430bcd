// ota-verify as a user runs it (the built CLI in a real process) against the lab, benches played by
// in-process agents.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../shared/clock.js';
import type { startLab } from '../../lab/start-lab.js';
import { addFirmware, taskReaches } from '../helpers/lab-fixtures.js';
import type { testAgent } from '../helpers/agent-fixtures.js';
import { labWithBenches as benches, runVerify } from '../helpers/verify-fixtures.js';
import { BIN, runCliToEnd, spawnCli } from '../helpers/processes.js';
import { parseXmlTags } from '../helpers/xml-check.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'verify-cli-')); });
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

const labWithBenches = (n: number, lab: Parameters<typeof startLab>[0] = {}, clock?: ManualClock, agent: Parameters<typeof testAgent>[2] = {}) =>
  benches(dir, cleanup, n, { lab, ...(clock ? { clock } : {}), agent });
const verify = runVerify;

describe('ota-verify verify', () => {
  it('passes: exit 0, a JSON verdict and a JUnit file with one passing case per device', async () => {
    const { lab, labFile } = await labWithBenches(2);
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    const junit = join(dir, 'pass.xml');
    const r = await verify(labFile, firmwareId, 'bench-01,bench-02', ['--json', '--junit', junit, '--tag', 'build=42', '--timeout-minutes', '30']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { schema: string; verdict: string; exitCode: number; devices: { deviceName: string; status: string }[] };
    expect(doc).toMatchObject({ schema: 'ota-verify/result@2', verdict: 'verified', exitCode: 0, message: null });
    expect(doc.devices.map((d) => [d.deviceName, d.status])).toEqual([['bench-01', 'SUCCEEDED'], ['bench-02', 'SUCCEEDED']]);
    const xml = parseXmlTags(await readFile(junit, 'utf8'));
    expect(xml.filter((e) => e.name === 'testcase').map((e) => e.attrs.name)).toEqual(['bench-01', 'bench-02']);
    expect(xml.some((e) => e.name === 'failure')).toBe(false);
    expect(lab.store.state.jobs[0]?.tags).toEqual([{ Key: 'build', Value: '42' }]);
    // Again: already verified by that job on these benches, exit 0 without a new job.
    const again = await verify(labFile, firmwareId, 'bench-01');
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already verified by job');
    expect(lab.store.state.jobs).toHaveLength(1);
  });

  it('fails: exit 1, the device and its reason in the output, the JSON and the JUnit file', async () => {
    const { lab, labFile } = await labWithBenches(2);
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    lab.setFault(firmwareId, { flipByteAt: 5 });
    const junit = join(dir, 'fail.xml');
    const r = await verify(labFile, firmwareId, 'bench-01,bench-02', ['--junit', junit]);
    expect(r.code).toBe(1);
    // The status is said once: "FAILED bench-01: digest mismatch…", not "FAILED bench-01: FAILED - …".
    expect(r.stdout).toMatch(/^FAILED bench-01: digest mismatch/m);
    expect(r.stdout).not.toMatch(/FAILED bench-01: FAILED/);
    const failures = parseXmlTags(await readFile(junit, 'utf8')).filter((e) => e.name === 'failure');
    expect(failures).toHaveLength(2);
    expect(failures[0]?.attrs.message).toMatch(/digest mismatch/);
  });

  it('times out: a bench that stalls fails TimeoutInMinutes after its first progress; exit 1', async () => {
    const clock = new ManualClock(Date.now());
    const { lab, labFile } = await labWithBenches(1, {}, clock, { simulateInstall: false, installCommand: 'sleep 60' });
    const { firmwareId } = await addFirmware(lab);
    const run = spawnCli(BIN.verify, ['verify', '--lab', labFile, '--firmware-id', firmwareId, '--devices', 'bench-01', '--timeout-minutes', '5', '--poll-min-ms', '200', '--poll-max-ms', '500', '--json']);
    cleanup.push(() => run.stop('SIGKILL'));
    await taskReaches(lab, 'bench-01', 'IN_PROGRESS');
    clock.advance(5 * 60_000);
    expect(await run.exited).toBe(1);
    const doc = JSON.parse(run.stdout()) as { devices: { desc: string }[] };
    expect(doc.devices[0]?.desc).toMatch(/timeout/);
  });

  it('finishes under hard throttling without showing a throttling error', async () => {
    const hard = { ListOTATaskByJob: 1, QueryOTAFirmware: 1, QueryOTAJob: 1, QueryDeviceDetail: 1, ListOTAUnfinishedTaskByDevice: 1, CreateOTAVerifyJob: 1 };
    const { lab, labFile } = await labWithBenches(3, { throttle: hard });
    const { firmwareId } = await addFirmware(lab);
    const r = await verify(labFile, firmwareId, 'bench-01,bench-02,bench-03', ['--budget', '20']);
    expect(r.code).toBe(0);
    expect(lab.requests.some((q) => q.code === 'Throttling.User')).toBe(true);
    expect(r.stdout + r.stderr).not.toMatch(/Throttling/);
  });

  it('recovers when the platform is unreachable for a few seconds mid-watch', async () => {
    const { lab, labFile } = await labWithBenches(1, {}, undefined, { simulateInstall: false, installCommand: 'sleep 3' });
    // A TCP proxy in front of the API that can be taken down and brought back.
    let down = false;
    const live = new Set<Socket>();
    const target = new URL(lab.connection.apiEndpoint);
    const proxy: Server = createServer((s) => {
      if (down) { s.destroy(); return; }
      const up = connect(Number(target.port), target.hostname);
      live.add(s).add(up);
      s.pipe(up).pipe(s);
      s.on('error', () => up.destroy());
      up.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => { for (const s of live) s.destroy(); proxy.close(r); }));
    const conn = JSON.parse(await readFile(labFile, 'utf8')) as Record<string, unknown>;
    const proxied = join(dir, 'proxied.json');
    await writeFile(proxied, JSON.stringify({ ...conn, apiEndpoint: `http://127.0.0.1:${(proxy.address() as { port: number }).port}` }));
    const { firmwareId } = await addFirmware(lab);
    const run = spawnCli(BIN.verify, ['verify', '--lab', proxied, '--firmware-id', firmwareId, '--devices', 'bench-01', '--poll-min-ms', '200', '--poll-max-ms', '500']);
    cleanup.push(() => run.stop('SIGKILL'));
    await run.waitFor(/watching verify job/);
    down = true;
    for (const s of live) s.destroy();
    await taskReaches(lab, 'bench-01', 'IN_PROGRESS');
    const before = lab.requests.length;
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    down = false;
    expect(await run.exited).toBe(0);
    expect(lab.requests.length).toBeGreaterThan(before);
    expect(run.stdout()).toContain('is verified');
  });

  it('re-attaches after being SIGKILLed mid-watch and reaches the same verdict', async () => {
    const { lab, labFile } = await labWithBenches(1, {}, undefined, { simulateInstall: false, installCommand: 'sleep 2' });
    const { firmwareId } = await addFirmware(lab);
    const first = spawnCli(BIN.verify, ['verify', '--lab', labFile, '--firmware-id', firmwareId, '--devices', 'bench-01', '--poll-min-ms', '200']);
    const jobId = /watching verify job (\S+)/.exec(await first.waitFor(/watching verify job \S+/))?.[1] ?? '';
    first.child.kill('SIGKILL');
    await first.exited;
    const again = await runCliToEnd(BIN.verify, ['watch', jobId, '--lab', labFile, '--poll-min-ms', '200', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ verdict: 'verified', jobId });
    const status = await runCliToEnd(BIN.verify, ['status', jobId, '--lab', labFile]);
    expect(status.stdout).toMatch(/COMPLETED[\s\S]*bench-01\s+SUCCEEDED/);
    const fw = await runCliToEnd(BIN.verify, ['firmware', firmwareId, '--lab', labFile]);
    expect(fw.stdout).toContain(': verified');    const statusJson = await runCliToEnd(BIN.verify, ['status', jobId, '--lab', labFile, '--json']);
    expect(statusJson.code, statusJson.stderr).toBe(0);
    expect(JSON.parse(statusJson.stdout)).toEqual({
      schema: 'ota-verify/status@1', jobId, jobStatus: 'COMPLETED', productKey: lab.connection.productKey, firmwareId, firmwareStatus: 1, firmwareStatusText: 'verified',
      tasks: [{ deviceName: 'bench-01', taskId: expect.any(String) as unknown, status: 'SUCCEEDED', progress: 100, desc: expect.any(String) as unknown, srcVersion: expect.any(String) as unknown, destVersion: expect.any(String) as unknown }],
    });
    const fwJson = await runCliToEnd(BIN.verify, ['firmware', firmwareId, '--lab', labFile, '--json']);
    expect(fwJson.code, fwJson.stderr).toBe(0);
    expect(JSON.parse(fwJson.stdout)).toEqual({
      schema: 'ota-verify/firmware@1', firmwareId, name: expect.any(String) as unknown, productKey: lab.connection.productKey, module: 'default',
      destVersion: expect.any(String) as unknown, srcVersion: null, delta: false, status: 1, statusText: 'verified', verifyProgress: 100,
    });
  });

  it('cancel: stops a running job\'s tasks; the verdict is then a failure', async () => {
    const { lab, labFile } = await labWithBenches(1, {}, undefined, { simulateInstall: false, installCommand: 'sleep 20' });
    const { firmwareId } = await addFirmware(lab);
    const jobId = (await verify(labFile, firmwareId, 'bench-01', ['--no-wait'])).stdout.trim();
    await taskReaches(lab, 'bench-01', 'IN_PROGRESS');
    const c = await runCliToEnd(BIN.verify, ['cancel', jobId, '--lab', labFile]);
    expect(c.code, c.stderr).toBe(0);
    await taskReaches(lab, 'bench-01', 'CANCELED');
    const w = await runCliToEnd(BIN.verify, ['watch', jobId, '--lab', labFile, '--poll-min-ms', '200']);
    expect(w.code).toBe(1);
    expect(w.stdout).toContain('FAILED bench-01: CANCELED');
    expect((await runCliToEnd(BIN.verify, ['cancel', 'job-nope', '--lab', labFile])).code).toBe(2);
  });
});

describe('ota-verify refusals', () => {
  it('refuses bad local input with exit 2 and makes no API call', async () => {
    const { lab, labFile } = await labWithBenches(1);
    const before = lab.requests.length;
    const cases: [string[], RegExp][] = [
      [['--devices', ''], /--devices needs a value: the names of the test devices, separated by commas/],
      [['--devices', Array.from({ length: 11 }, (_, i) => `bench-${i + 10}`).join(',')], /at most 10/],
      [['--devices', 'bench-01, bench-01 '], /named twice/],
      [['--devices', 'x'], /not valid/],
      [['--devices', 'bench-01', '--timeout-minutes', '0'], /1 to 1440/],
      [['--devices', 'bench-01', '--timeout-minutes', '2.5'], /1 to 1440/],
      [['--devices', 'bench-01', '--tag', 'novalue'], /KEY=VALUE/],
    ];
    for (const [args, re] of cases) {
      const r = await runCliToEnd(BIN.verify, ['verify', '--lab', labFile, '--firmware-id', 'fw1', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
    }
    expect((await runCliToEnd(BIN.verify, ['verify', '--firmware-id', 'x', '--devices', 'bench-01'], { env: { ALIBABA_CLOUD_ACCESS_KEY_ID: '', ALIBABA_CLOUD_ACCESS_KEY_SECRET: '', HOME: dir } })).code).toBe(2);
    expect((await runCliToEnd(BIN.verify, ['bogus'])).code).toBe(2);
    expect(lab.requests.length).toBe(before);
  });

  it('refuses what the platform says cannot be verified, each with exit 2', async () => {
    const { lab, labFile } = await labWithBenches(2);
    const unknownFw = await verify(labFile, 'fw-nope', 'bench-01');
    expect(unknownFw).toMatchObject({ code: 2 });
    expect(unknownFw.stderr).toContain('does not exist');
    const { firmwareId } = await addFirmware(lab);
    const ghost = await verify(labFile, firmwareId, 'bench-01,ghost-01');
    expect(ghost.code).toBe(2);
    expect(ghost.stderr).toContain('ghost-01');
    const other = await verify(labFile, firmwareId, 'bench-01', ['--product-key', 'a1OtherProd']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('belongs to product');
    const none = await addFirmware(lab, { needToVerify: false });
    const noNeed = await verify(labFile, none.firmwareId, 'bench-01');
    expect(noNeed.code).toBe(0);
    expect(noNeed.stdout).toContain('needs no verification');
  });

  it('exits 3 with the platform\'s message on a wrong AccessKey secret, and prints no secret', async () => {
    const { lab, labFile } = await labWithBenches(1);
    const r = await verify(labFile, 'fw1', 'bench-01', [], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'wrong-secret-value-123' });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('SignatureDoesNotMatch');
    for (const s of ['wrong-secret-value-123', lab.connection.accessKeySecret]) expect(r.stdout + r.stderr).not.toContain(s);
  });
});
