// `ota-lab` as a user runs it: start, firmware add, fault, bad input; the built CLI in a real process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLabConnection } from '../../shared/lab-connection.js';
import { BIN, runCliToEnd, spawnCli, type Spawned } from '../helpers/processes.js';

let dir: string;
let lab: Spawned;

/** Start `ota-lab start …` expecting a refusal: a lab that starts instead is stopped at once (never left
 *  running) and reported as such, so the test fails rather than hangs. */
async function startRefused(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const p = spawnCli(BIN.lab, ['start', ...args], { cwd: dir });
  const started = await Promise.race([p.exited.then(() => false), p.waitFor(/Press Ctrl-C/).then(() => true, () => false)]);
  if (started) {
    await p.stop('SIGINT');
    return { code: null, stderr: `it started instead of refusing:\n${p.stdout()}` };
  }
  return { code: await p.exited, stderr: p.stderr() };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lab-cli-'));
  lab = spawnCli(BIN.lab, ['start', '--devices', '3', '--log-level', 'warn'], { cwd: dir });
  await lab.waitFor(/Press Ctrl-C to stop/);
});
afterAll(async () => {
  await lab?.stop('SIGINT');
  await rm(dir, { recursive: true, force: true });
});

describe('ota-lab CLI', () => {
  it('writes a private connection file the other programs can read', async () => {
    const conn = await readLabConnection(join(dir, 'lab.json'));
    expect(conn.devices.map((d) => d.deviceName)).toEqual(['bench-01', 'bench-02', 'bench-03']);
    expect(((await stat(join(dir, 'lab.json'))).mode & 0o777).toString(8)).toBe('600');
    expect(lab.stdout()).toContain(conn.apiEndpoint);
    expect(lab.stdout()).not.toContain(conn.accessKeySecret);
  });

  it('registers a firmware, prints its id, and sets faults on it', async () => {
    await writeFile(join(dir, 'fw.bin'), Buffer.alloc(5000, 7));
    const add = await runCliToEnd(BIN.lab, ['firmware', 'add', 'fw.bin', '--version', '2.0.0', '--sign-method', 'md5'], { cwd: dir });
    // Any case, as the agent reads signMethod: registered as the platform spells it.
    expect(add.code, add.stderr).toBe(0);
    expect(add.stderr).toContain('(5000 bytes, MD5)');
    const id = add.stdout.trim();
    expect(id).toMatch(/^fw\w+$/);
    expect((await runCliToEnd(BIN.lab, ['fault', id, '--error-status', '500', '--error-times', '1'], { cwd: dir })).code).toBe(0);
    expect((await runCliToEnd(BIN.lab, ['fault', id, '--clear'], { cwd: dir })).code).toBe(0);
  });

  it('firmware list: every firmware through the signed API, as a table and as ota-lab/firmware-list@1', async () => {
    await writeFile(join(dir, 'fw-list.bin'), Buffer.alloc(3000, 1));
    const add = await runCliToEnd(BIN.lab, ['firmware', 'add', 'fw-list.bin', '--version', '3.1.0', '--module', 'MCU', '--name', 'list-me'], { cwd: dir });
    expect(add.code, add.stderr).toBe(0);
    const id = add.stdout.trim();
    const json = await runCliToEnd(BIN.lab, ['firmware', 'list', '--json'], { cwd: dir });
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { schema: string; productKey: string; firmware: Record<string, unknown>[] };
    expect(doc.schema).toBe('ota-lab/firmware-list@1');
    expect(doc.firmware.find((f) => f.firmwareId === id)).toEqual({
      firmwareId: id, name: 'list-me', module: 'MCU', destVersion: '3.1.0', srcVersion: null, status: 0, statusText: 'unverified',
      size: 3000, signMethod: 'SHA256', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
    });
    const table = await runCliToEnd(BIN.lab, ['firmware', 'list'], { cwd: dir });
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^FIRMWARE_ID\s+VERSION\s+MODULE\s+STATUS\s+NAME$/);
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+3\\.1\\.0\\s+MCU\\s+unverified\\s+list-me$`, 'm'));
  });

  it('refuses bad input with exit 2 and a message that says what was expected', async () => {
    const missing = await runCliToEnd(BIN.lab, ['firmware', 'add', 'nope.bin', '--version', '1'], { cwd: dir });
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.stderr).toMatch(/firmware file nope\.bin does not exist[\s\S]*expected: a readable/);
    await writeFile(join(dir, 'empty.bin'), '');
    expect((await runCliToEnd(BIN.lab, ['firmware', 'add', 'empty.bin', '--version', '1'], { cwd: dir })).stderr).toContain('is empty');
    const badVersion = await runCliToEnd(BIN.lab, ['firmware', 'add', 'fw.bin', '--version', 'v 2'], { cwd: dir });
    expect(badVersion.code).toBe(2);
    expect(badVersion.stderr).toContain('DestVersion');
    const noFault = await runCliToEnd(BIN.lab, ['fault', 'fw999', '--close-after-bytes', '10'], { cwd: dir });
    expect(noFault).toMatchObject({ code: 2 });
    expect(noFault.stderr).toContain('no firmware');
    const noLab = await runCliToEnd(BIN.lab, ['firmware', 'add', 'fw.bin', '--version', '1', '--lab', 'missing.json'], { cwd: dir });
    expect(noLab.code).toBe(2);
    expect(noLab.stderr).toContain('missing.json');
    const unknown = await runCliToEnd(BIN.lab, ['launch'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('ota-lab --help');
    const help = await runCliToEnd(BIN.lab, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('firmware add');
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('stops cleanly on %s and removes its connection file', async (signal) => {
    const file = join(dir, `other-${signal}.json`);
    const other = spawnCli(BIN.lab, ['start', '--devices', '1', '--connection-file', file], { cwd: dir });
    await other.waitFor(/Press Ctrl-C/);
    expect((await readLabConnection(file)).pid).toBe(other.child.pid);
    expect(await other.stop(signal)).toBe(0);
    expect(other.stdout()).toContain('ota-lab stopped');
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to start over the connection file of a lab that is still running, and leaves it as it was', async () => {
    const before = await readFile(join(dir, 'lab.json'), 'utf8');
    const second = await startRefused(['--devices', '1', '--log-level', 'warn']);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`belongs to a lab that is still running (pid ${lab.child.pid})`);
    expect(second.stderr).toMatch(/expected: stop that lab first .*another --connection-file/);
    expect(await readFile(join(dir, 'lab.json'), 'utf8')).toBe(before);
  });

  it('takes over the file of a lab that is gone, and never overwrites a file that is not a lab\'s', async () => {
    const gone = spawn(process.execPath, ['-e', '0']);
    const deadPid = gone.pid as number;
    await new Promise((r) => gone.once('exit', r));
    const stale = JSON.parse(await readFile(join(dir, 'lab.json'), 'utf8')) as Record<string, unknown>;
    const file = join(dir, 'stale.json');
    await writeFile(file, JSON.stringify({ ...stale, pid: deadPid }));
    const next = spawnCli(BIN.lab, ['start', '--devices', '1', '--connection-file', file, '--file-host', 'bench-lab.local', '--log-level', 'warn'], { cwd: dir });
    await next.waitFor(/Press Ctrl-C/);
    const taken = await readLabConnection(file);
    expect(taken.pid).toBe(next.child.pid);
    expect(taken.fileServer).toMatch(/^http:\/\/bench-lab\.local:\d+$/);
    expect(await next.stop('SIGINT')).toBe(0);
    await writeFile(join(dir, 'notes.json'), '{"mine": true}\n');
    const refused = await startRefused(['--devices', '1', '--connection-file', 'notes.json']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('will not overwrite');
    expect(refused.stderr).toContain('not an ota-lab connection file');
    expect(await readFile(join(dir, 'notes.json'), 'utf8')).toBe('{"mine": true}\n');
  });

  it.each([
    ['--file-port', 'firmware file server'], ['--api-port', 'OpenAPI server'],
  ])('fails at once with the port and the reason when %s is taken, and leaves no connection file', async (flag, what) => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await startRefused(['--devices', '1', flag, String(port), '--connection-file', 'busy.json']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([
        `ota-lab: the ${what} cannot listen on 127.0.0.1:${port}: the port is already in use by another program`,
        `  expected: a free port for ${flag} (0 picks one)`,
      ]);
      await expect(stat(join(dir, 'busy.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });
});
