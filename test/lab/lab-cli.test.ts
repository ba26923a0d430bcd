// `ota-lab` as a user runs it: start, firmware add, fault, bad input; the built CLI in a real process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLabConnection } from '../../shared/lab-connection.js';
import { BIN, runCliToEnd, spawnCli, type Spawned } from '../helpers/processes.js';

let dir: string;
let lab: Spawned;

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
    const add = await runCliToEnd(BIN.lab, ['firmware', 'add', 'fw.bin', '--version', '2.0.0', '--sign-method', 'MD5'], { cwd: dir });
    expect(add.code).toBe(0);
    const id = add.stdout.trim();
    expect(id).toMatch(/^fw\w+$/);
    expect((await runCliToEnd(BIN.lab, ['fault', id, '--error-status', '500', '--error-times', '1'], { cwd: dir })).code).toBe(0);
    expect((await runCliToEnd(BIN.lab, ['fault', id, '--clear'], { cwd: dir })).code).toBe(0);
  });

  it('refuses bad input with exit 2 and a message that says what was expected', async () => {
    const missing = await runCliToEnd(BIN.lab, ['firmware', 'add', 'nope.bin', '--version', '1'], { cwd: dir });
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.stderr).toMatch(/cannot read firmware file nope\.bin[\s\S]*expected: a readable/);
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

  it('stops cleanly on SIGINT', async () => {
    const other = spawnCli(BIN.lab, ['start', '--devices', '1', '--connection-file', join(dir, 'other.json')], { cwd: dir });
    await other.waitFor(/Press Ctrl-C/);
    expect(await other.stop('SIGINT')).toBe(0);
    expect(other.stdout()).toContain('ota-lab stopped');
  });
});
