// The re-attach hint `ota-verify watch` and `verify` print is a command a person pastes: it must
// carry every flag that changes the verdict or the waiting (--start-timeout-minutes, what is left of
// --max-wait, the pace), or re-attaching silently waits longer than asked. Each hint is run as
// printed (`ota-verify` on PATH is the built CLI) and must end by the bound it carries.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFirmware } from '../helpers/lab-fixtures.js';
import { BIN, spawnCli, type Spawned } from '../helpers/processes.js';
import { labWithBenches, runVerify, type Bench } from '../helpers/verify-fixtures.js';

let dir: string;
let binDir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reattach-'));
  binDir = join(dir, 'bin');
  await mkdir(binDir);
  // `ota-verify` as an installed package puts it on PATH.
  await writeFile(join(binDir, 'ota-verify'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN.verify)} "$@"\n`);
  await chmod(join(binDir, 'ota-verify'), 0o755);
});
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** Run a printed command line in a shell, as a person pasting it would. */
function runPrinted(command: string, extra: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('/bin/sh', ['-c', `${command} ${extra}`], { env: { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A job whose only bench has no agent: its task stays QUEUED, nothing ends it but our bounds. */
async function stuckJob(): Promise<{ b: Bench; firmwareId: string; jobId: string }> {
  const b = await labWithBenches(dir, cleanup, 1, { running: 0 });
  const { firmwareId } = await addFirmware(b.lab);
  const r = await runVerify(b.labFile, firmwareId, 'bench-01', ['--no-wait']);
  expect(r.code, r.stderr).toBe(0);
  return { b, firmwareId, jobId: r.stdout.trim() };
}

/** Ctrl-C once the watch has started: exit 4 and the printed hint. */
async function interrupted(p: Spawned): Promise<string> {
  await p.waitFor(/watching verify job/);
  expect(await p.stop('SIGINT')).toBe(4);
  const hint = /Re-attach with: (.+)/.exec(p.stderr())?.[1] ?? '';
  expect(hint).toMatch(/^ota-verify watch /);
  return hint;
}

interface Doc { verdict: string; exitCode: number; message: string | null; devices: { deviceName: string; status: string; desc: string }[] }

describe('the re-attach hint', () => {
  it('watch --max-wait: carries what is left of it (and --start-timeout-minutes 0, the poll pace); run as printed it ends at that bound', async () => {
    const { b, jobId } = await stuckJob();
    const p = spawnCli(BIN.verify, ['watch', jobId, '--lab', b.labFile, '--max-wait', '0.15', '--start-timeout-minutes', '0', '--poll-min-ms', '200', '--poll-max-ms', '1000']);
    cleanup.push(() => p.stop('SIGKILL'));
    const hint = await interrupted(p);
    expect(hint).toContain(`ota-verify watch ${jobId} --lab ${b.labFile} --start-timeout-minutes 0 --max-wait-minutes `);
    expect(hint).toContain('--poll-min-ms 200 --poll-max-ms 1000');
    const left = Number(/--max-wait-minutes (\S+)/.exec(hint)?.[1]);
    expect(left).toBeGreaterThanOrEqual(0.01);
    expect(left).toBeLessThanOrEqual(0.15);
    expect(hint).not.toContain(b.lab.connection.accessKeySecret);
    const again = await runPrinted(hint, '--json');
    expect(again.code, again.stderr).toBe(1);
    expect(JSON.parse(again.stdout) as Doc).toMatchObject({ verdict: 'failed', message: `not finished within --max-wait; the unfinished tasks of job ${jobId} are cancelled` });
    expect(b.lab.store.state.tasks.find((t) => t.deviceName === 'bench-01')?.status).toBe('CANCELED');
  });

  it('watch --start-timeout-minutes: carried; run as printed it fails the bench that never starts', async () => {
    const { b, jobId } = await stuckJob();
    const p = spawnCli(BIN.verify, ['watch', jobId, '--lab', b.labFile, '--start-timeout-minutes', '0.05', '--cancel-on-interrupt']);
    cleanup.push(() => p.stop('SIGKILL'));
    await p.waitFor(/re-attach with: .+\)/);
    // The start line's hint: --cancel-on-interrupt is carried, so Ctrl-C on the re-attached watch cancels too.
    const hint = /re-attach with: (.+)\)/.exec(p.stdout())?.[1] ?? '';
    expect(hint).toBe(`ota-verify watch ${jobId} --lab ${b.labFile} --start-timeout-minutes 0.05 --cancel-on-interrupt`);
    await p.stop('SIGKILL');
    const again = await runPrinted(hint, '--json');
    expect(again.code, again.stderr).toBe(1);
    const doc = JSON.parse(again.stdout) as Doc;
    expect(doc.devices[0]).toMatchObject({ deviceName: 'bench-01', status: 'FAILED', desc: expect.stringMatching(/^never started/) as unknown });
  });

  it('verify: its hint carries the bounds too; run as printed it ends at what is left of --max-wait', async () => {
    const b = await labWithBenches(dir, cleanup, 1, { running: 0 });
    const { firmwareId } = await addFirmware(b.lab);
    const p = spawnCli(BIN.verify, ['verify', '--lab', b.labFile, '--firmware-id', firmwareId, '--devices', 'bench-01', '--max-wait-minutes', '0.2', '--start-timeout-minutes', '0', '--budget', '5']);
    cleanup.push(() => p.stop('SIGKILL'));
    const hint = await interrupted(p);
    expect(hint).toMatch(new RegExp(`^ota-verify watch \\S+ --lab ${b.labFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} --start-timeout-minutes 0 --max-wait-minutes 0\\.[0-2]\\d? --budget 5$`));
    const again = await runPrinted(hint, '--json');
    expect(again.code, again.stderr).toBe(1);
    expect((JSON.parse(again.stdout) as Doc).message).toMatch(/^not finished within --max-wait/);
  });
});
