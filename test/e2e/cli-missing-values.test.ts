// A flag that takes a value, typed without one, is a usage error in all three CLIs (exit 2, the flag
// named with what it takes). yargs alone gives such a flag its default (`ota-lab start --api-port`
// started a lab on a random port) or '' / undefined; nothing may start or be written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, spawnCli } from '../helpers/processes.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'cli-missing-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** Run in an empty folder of its own; a program that starts a long-running service instead of
 *  refusing (the bug) is stopped once it says so, and the test then fails on its exit code. */
async function runIn(bin: string, args: string[]): Promise<{ code: number | null; stderr: string; files: string[]; cwd: string }> {
  const cwd = await mkdtemp(join(dir, 'run-'));
  const p = spawnCli(bin, args, { cwd });
  const started = p.waitFor(/ota-lab is running|connected|ota-lab demo:/).then(() => p.stop('SIGKILL'), () => undefined);
  const code = await p.exited;
  await started;
  return { code, stderr: p.stderr(), files: await readdir(cwd), cwd };
}

describe('a value flag given without its value', () => {
  it.each([
    ['lab', ['start', '--api-port'], 'ota-lab: --api-port needs a value: OpenAPI port on 127.0.0.1 (0: any free port) (see ota-lab --help)'],
    ['lab', ['start', '--devices'], 'ota-lab: --devices needs a value: how many test devices to create (bench-01, bench-02, …), 0-100000 (see ota-lab --help)'],
    // Followed by another flag: yargs reads no value there either.
    ['lab', ['start', '--devices', '--api-port', '0'], 'ota-lab: --devices needs a value: how many test devices to create (bench-01, bench-02, …), 0-100000 (see ota-lab --help)'],
    ['lab', ['start', '--mqtt-port='], 'ota-lab: --mqtt-port needs a value: MQTT port on 127.0.0.1 (0: any free port) (see ota-lab --help)'],
    ['lab', ['start', '--log-level'], 'ota-lab: --log-level needs a value: one of trace, debug, info, warn, error, silent (see ota-lab --help)'],
    ['lab', ['start', '--connection-file'], 'ota-lab: --connection-file needs a value: the connection file to write (see ota-lab --help)'],
    ['lab', ['firmware', 'list', '--lab'], 'ota-lab: --lab needs a value: the connection file of the running lab (see ota-lab --help)'],
    ['lab', ['firmware', 'add', 'fw.bin', '--version'], 'ota-lab: --version needs a value: the destination version the firmware installs (see ota-lab --help)'],
    ['lab', ['fault', 'fw1', '--flip-byte-at'], 'ota-lab: --flip-byte-at needs a value: a byte offset: corrupt the byte there (see ota-lab --help)'],
    ['lab', ['demo', '--size'], 'ota-lab: --size needs a value: firmware size, e.g. 512KiB, 8MiB (see ota-lab --help)'],
    ['lab', ['demo', '--devices'], 'ota-lab: --devices needs a value: how many benches, 1-10 (see ota-lab --help)'],
    ['verify', ['verify', '--lab', 'lab.json', '--firmware-id', 'fw', '--devices'], 'ota-verify: --devices needs a value: comma-separated test devices (see ota-verify --help)'],
    ['verify', ['verify', '--lab', 'lab.json', '--firmware-id', 'fw', '--device'], 'ota-verify: --device needs a value: a test device (1-10) (see ota-verify --help)'],
    ['verify', ['verify', '--lab', 'lab.json', '--firmware-id', 'fw', '--devices', 'b1', '--max-wait'], 'ota-verify: --max-wait needs a value: a number of minutes (fractions allowed) after which this run ends; unfinished benches fail and their tasks are cancelled (see ota-verify --help)'],
    ['verify', ['status', 'J1', '--lab'], 'ota-verify: --lab needs a value: a lab connection file (ota-lab start) (see ota-verify --help)'],
    ['verify', ['firmware', 'F1', '--lab', 'lab.json', '--budget'], 'ota-verify: --budget needs a value: account-wide API requests per second from this process (see ota-verify --help)'],
    ['agent', ['run', '--config'], "ota-agent: --config needs a value: the bench's JSON config file (see ota-agent --help)"],
    ['agent', ['check', '--lab', 'lab.json', '--device'], 'ota-agent: --device needs a value: with --lab: which lab device to be (see ota-agent --help)'],
    ['agent', ['reset', '--work-dir', 'w', '--module'], 'ota-agent: --module needs a value: the module to clear (see ota-agent --help)'],
  ] as const)('ota-%s %j: exit 2, one line, nothing written', async (bin, args, line) => {
    const r = await runIn(BIN[bin], [...args]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(line);
    expect(r.files).toEqual([]);
  });

  it('ota-verify watch --max-wait with nothing after it still writes the --json and --junit reports (verdict refused)', async () => {
    const r = await runIn(BIN.verify, ['watch', 'J1', '--lab', 'lab.json', '--junit', 'w.xml', '--max-wait']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^ota-verify: --max-wait needs a value: a number of minutes/);
    expect(r.files).toEqual(['w.xml']);
    expect(await readFile(join(r.cwd, 'w.xml'), 'utf8')).toMatch(/--max-wait needs a value/);
  });

  it('a negative number is a value, not a missing one (checked by the flag itself)', async () => {
    const r = await runIn(BIN.verify, ['verify', '--lab', 'lab.json', '--firmware-id', 'fw', '--devices', 'b1', '--start-timeout-minutes', '-1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('ota-verify: --start-timeout-minutes -1 is not valid: expected minutes from 0 to 10080 (fractions allowed)');
  });
});
