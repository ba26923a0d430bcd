// What a newcomer hands the CLIs by accident: a config or lab.json that is a directory, empty, huge
// or unreadable; a lab.json left by a lab that was killed; a --state-dir that is a file; a firmware
// file that is empty, a directory or unreadable; bytes that are not UTF-8 in --devices. Each is one
// line in the user's words (plus the `expected:` line) with the documented exit code, no stack trace,
// no secret, and nothing written. Real CLI processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab } from '../../lab/start-lab.js';
import { writeLabConnection, type LabConnection } from '../../shared/lab-connection.js';
import { BIN, runCliToEnd } from '../helpers/processes.js';

let dir: string;
/** lab.json of a lab that was SIGKILLed: valid, but nothing answers and its pid is gone. */
let stale: LabConnection;

/** A pid that ran and has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('close', r));
  return child.pid as number;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-hostile-'));
  // Readable by the unprivileged user the "unreadable file" cases run as (see asNobody).
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'a-dir'));
  await writeFile(join(dir, 'empty.json'), '');
  await writeFile(join(dir, 'empty.bin'), '');
  // 50 MB without writing 50 MB: a sparse file has the size a reader would have to take in.
  await writeFile(join(dir, 'huge.json'), '');
  await truncate(join(dir, 'huge.json'), 50 * 1024 * 1024);
  await writeFile(join(dir, 'secret.json'), '{"productKey":"a1AbCdEfGhI"}');
  await writeFile(join(dir, 'secret.bin'), 'firmware');
  await chmod(join(dir, 'secret.json'), 0o000);
  await chmod(join(dir, 'secret.bin'), 0o000);
  const lab = await startLab({ deviceCount: 1, throttle: 'off', connectionFile: join(dir, 'gone.json') });
  const conn = lab.connection;
  await lab.close();
  stale = { ...conn, pid: await deadPid() };
  await writeLabConnection(join(dir, 'stale.json'), stale);
  // A copy `nobody` may read (lab.json is written 0600), for the unreadable-firmware cases.
  await writeFile(join(dir, 'stale-shared.json'), JSON.stringify(stale), { mode: 0o644 });
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

type Bin = keyof typeof BIN;
const run = (bin: Bin, args: string[]) => runCliToEnd(BIN[bin], args, { cwd: dir });

/** Whether the "unreadable file" cases can run: as root they run as `nobody`, who must be able to
 *  reach the CLIs (a checkout in a private directory, e.g. `mktemp -d`, is out of its reach). */
function nobodyCanRunCli(): boolean {
  if (process.getuid?.() !== 0) return true;
  const probe = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(BIN.agent)})`], { uid: 65534, gid: 65534, stdio: 'ignore' });
  return probe.status === 0;
}

/** root reads a mode-000 file anyway: run as `nobody` then, as a user without the permission. */
function asNobody(bin: Bin, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const root = process.getuid?.() === 0;
  const child = spawn(process.execPath, [BIN[bin], ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], ...(root ? { uid: 65534, gid: 65534 } : {}) });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

function expectOneRefusal(r: { code: number | null; stderr: string }, code: number, line: string, expected?: string): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toBe(line);
  expect(lines.slice(1)).toEqual(expected === undefined ? [] : [`  expected: ${expected}`]);
  expect(r.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
}

const LAB_EXPECTED = 'the lab.json written by `ota-lab start`';

describe('a config file or lab.json that is not one', () => {
  it.each([
    ['agent', ['check', '--config', 'a-dir'], 'ota-agent: config file a-dir is a directory, not a file', 'a readable JSON file'],
    ['agent', ['run', '--config', 'empty.json'], 'ota-agent: config file empty.json is empty', 'a readable JSON file'],
    ['agent', ['check', '--config', 'huge.json'], 'ota-agent: config file huge.json is 50.0 MiB: more than the 1.0 MiB a config file can be', 'a readable JSON file'],
    ['agent', ['status', '--config', 'missing.json'], 'ota-agent: config file missing.json does not exist', 'a readable JSON file'],
    ['agent', ['run', '--lab', 'a-dir', '--device', 'bench-01'], 'ota-agent: lab connection file a-dir is a directory, not a file', LAB_EXPECTED],
    ['verify', ['verify', '--lab', 'empty.json', '--firmware-id', 'fw1', '--devices', 'bench-01'], 'ota-verify: lab connection file empty.json is empty', LAB_EXPECTED],
    ['verify', ['status', 'J1', '--lab', 'huge.json'], 'ota-verify: lab connection file huge.json is 50.0 MiB: more than the 13.0 MiB a lab connection file can be', LAB_EXPECTED],
    ['lab', ['firmware', 'list', '--lab', 'a-dir'], 'ota-lab: lab connection file a-dir is a directory, not a file', LAB_EXPECTED],
    ['lab', ['fault', 'fw1', '--clear', '--lab', 'empty.json'], 'ota-lab: lab connection file empty.json is empty', LAB_EXPECTED],
  ] as const)('ota-%s %j: exit 2', async (bin, args, line, expected) => {
    expectOneRefusal(await run(bin, [...args]), 2, line, expected);
  });

  it('a config file the user may not read: exit 2, permission denied in words', async (ctx) => {
    if (!nobodyCanRunCli()) ctx.skip('nobody cannot reach this checkout (a private directory): run from a readable one');
    expectOneRefusal(await asNobody('agent', ['check', '--config', 'secret.json']), 2, 'ota-agent: config file secret.json cannot be read (permission denied)', 'a readable JSON file');
  });
});

describe('a lab.json left by a lab that was killed', () => {
  it.each([
    ['firmware add', ['firmware', 'add', 'a-file.bin', '--version', '2.0.0', '--lab', 'stale.json']],
    ['firmware list', ['firmware', 'list', '--lab', 'stale.json']],
    ['fault', ['fault', 'fw000001', '--flip-byte-at', '10', '--lab', 'stale.json']],
  ])('ota-lab %s: exit 3, one line saying the lab stopped, no secret', async (_name, args) => {
    await writeFile(join(dir, 'a-file.bin'), 'x');
    const r = await run('lab', args);
    expectOneRefusal(r, 3, `ota-lab: cannot reach the lab of stale.json: the lab that wrote it (pid ${String(stale.pid)}) has stopped: start one with ota-lab start`);
    expect(r.stderr).not.toContain(stale.accessKeySecret);
    expect(r.stderr).not.toContain(stale.adminToken);
  });
});

describe('a lab.json left by a lab that was killed, to ota-verify', () => {
  it('status: exit 3, one line naming the file and saying the lab that wrote it stopped (the words ota-lab uses)', async () => {
    const r = await run('verify', ['status', 'J1', '--lab', 'stale.json']);
    expectOneRefusal(r, 3, `ota-verify: cannot reach the lab of stale.json at ${stale.apiEndpoint} (ECONNREFUSED): the lab that wrote it (pid ${String(stale.pid)}) has stopped: start one with ota-lab start`);
    expect(r.stderr).not.toContain(stale.accessKeySecret);
  });
});

describe('firmware files', () => {
  it.each([
    ['lab', ['firmware', 'add', 'empty.bin', '--version', '2.0.0', '--lab', 'stale.json'], 'ota-lab: firmware file empty.bin is empty', 'a readable, non-empty file of at most 1,000 MB (the platform\'s upload limit)'],
    ['lab', ['firmware', 'add', 'a-dir', '--version', '2.0.0', '--lab', 'stale.json'], 'ota-lab: firmware file a-dir is a directory, not a file', 'a readable, non-empty file of at most 1,000 MB (the platform\'s upload limit)'],
    ['verify', ['upload', 'a-dir', '--version', '2.0.0', '--lab', 'stale.json'], 'ota-verify: firmware file a-dir is a directory, not a file', 'a readable firmware file of 1 byte to 1,000 MB'],
    ['verify', ['verify', '--file', 'empty.bin', '--version', '2.0.0', '--lab', 'stale.json', '--devices', 'bench-01'], 'ota-verify: firmware file empty.bin is empty', 'a readable firmware file of 1 byte to 1,000 MB'],
  ] as const)('ota-%s %j: exit 2 before any call', async (bin, args, line, expected) => {
    expectOneRefusal(await run(bin, [...args]), 2, line, expected);
  });

  it('one the user may not read: exit 2 before any call (it was registered, or failed mid-upload)', async (ctx) => {
    if (!nobodyCanRunCli()) ctx.skip('nobody cannot reach this checkout (a private directory): run from a readable one');
    // A lab that is gone: a call would be exit 3, so exit 2 proves the file was refused first.
    expectOneRefusal(await asNobody('lab', ['firmware', 'add', 'secret.bin', '--version', '2.0.0', '--lab', 'stale-shared.json']), 2,
      'ota-lab: firmware file secret.bin cannot be read (permission denied)', 'a readable, non-empty file of at most 1,000 MB (the platform\'s upload limit)');
    expectOneRefusal(await asNobody('verify', ['upload', 'secret.bin', '--version', '2.0.0', '--lab', 'stale-shared.json']), 2,
      'ota-verify: firmware file secret.bin cannot be read (permission denied)', 'a readable firmware file of 1 byte to 1,000 MB');
  });
});

describe('other accidents', () => {
  it('ota-lab start --state-dir naming a file: exit 2 in words, no lab started, no lab.json', async () => {
    const cwd = await mkdtemp(join(dir, 'state-'));
    await writeFile(join(cwd, 'notes.txt'), 'x');
    const r = await runCliToEnd(BIN.lab, ['start', '--state-dir', 'notes.txt'], { cwd });
    expectOneRefusal(r, 2, `ota-lab: --state-dir ${join(cwd, 'notes.txt')} is a file, not a directory: expected a directory the lab may write (made if missing)`);
    expect(await readdir(cwd)).toEqual(['notes.txt']);
  });

  it('bytes that are not UTF-8 in --devices or --tag are named as such: exit 2', async () => {
    // Node turns argv bytes that are not UTF-8 into U+FFFD before any code sees them.
    const bad = Buffer.from([0x62, 0x65, 0x6e, 0x63, 0x68, 0xff, 0xfe]).toString('latin1');
    const r = await run('verify', ['verify', '--lab', 'stale.json', '--firmware-id', 'fw1', '--devices', `bench-01,${Buffer.from(bad, 'latin1').toString('utf8')}`]);
    expectOneRefusal(r, 2, 'ota-verify: device name "bench\uFFFD\uFFFD" (not valid UTF-8 text) is not valid', '4–32 characters of letters, digits and _ - . : @');
    const tag = await run('verify', ['verify', '--lab', 'stale.json', '--firmware-id', 'fw1', '--devices', 'bench-01', '--tag', `build=${Buffer.from([0xc3, 0x28]).toString('utf8')}`]);
    expect(tag.code, tag.stderr).toBe(2);
    expect(tag.stderr.split('\n')[0]).toBe('ota-verify: tag "build=\uFFFD(" (not valid UTF-8 text) is not valid');
  });

  it('the same bench twice, across --device and --devices, and 11 benches: exit 2 before any call', async () => {
    expectOneRefusal(await run('verify', ['verify', '--lab', 'stale.json', '--firmware-id', 'fw1', '--device', 'bench-01', '--devices', 'bench-02,bench-01']), 2,
      'ota-verify: device "bench-01" is named twice', 'each device once');
    const eleven = Array.from({ length: 11 }, (_, i) => `bench-${String(i + 1).padStart(2, '0')}`).join(',');
    expectOneRefusal(await run('verify', ['verify', '--lab', 'stale.json', '--firmware-id', 'fw1', '--devices', eleven]), 2,
      'ota-verify: 11 devices given; a verify job takes at most 10', 'one to ten devices');
  });
});
