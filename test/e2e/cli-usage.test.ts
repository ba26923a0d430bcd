// Usage errors in the user's words, not the argument parser's: exact text on stderr, exit 2.
import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, runCliToEnd } from '../helpers/processes.js';

describe('CLI usage errors', () => {
  it.each([
    ['verify', ['verfy', '--lab', 'lab.json'], "ota-verify: unknown command 'verfy' (did you mean verify?) (see ota-verify --help)"],
    ['verify', ['status'], 'ota-verify: status needs a JOB_ID (see ota-verify --help)'],
    ['verify', ['watch', '--lab', 'lab.json'], 'ota-verify: watch needs a JOB_ID (see ota-verify --help)'],
    ['verify', ['firmware'], 'ota-verify: firmware needs a FIRMWARE_ID (see ota-verify --help)'],
    ['verify', ['xyz'], "ota-verify: unknown command 'xyz'; the commands are verify, upload, watch, status, cancel, firmware (see ota-verify --help)"],
    ['agent', ['chek'], "ota-agent: unknown command 'chek' (did you mean check?) (see ota-agent --help)"],
    ['lab', ['strat'], "ota-lab: unknown command 'strat' (did you mean start?) (see ota-lab --help)"],
    ['lab', ['fault'], 'ota-lab: fault needs a FIRMWARE_ID (see ota-lab --help)'],
    ['lab', ['firmware', 'lst'], "ota-lab: unknown firmware command 'lst' (did you mean list?) (see ota-lab --help)"],
    ['verify', ['status', 'J1', '--quiet'], 'ota-verify: status does not take --quiet (see ota-verify --help)'],
    ['verify', ['firmware', 'F1', '--poll-min-ms', '200', '--budget', '3'], 'ota-verify: firmware does not take --poll-min-ms (see ota-verify --help)'],
    ['verify', ['cancel', 'J1', '--json', '--cancel-on-interrupt'], 'ota-verify: cancel does not take --json, --cancel-on-interrupt (see ota-verify --help)'],
    ['agent', ['run', '--lab', 'lab.json', '--device', 'bench-01', '--junit', 'x.xml'], 'ota-agent: run does not take --junit (see ota-agent --help)'],
    ['lab', ['demo', '--fail'], 'ota-lab: --fail needs a value: one of digest, download, install, offline, health, rollback (see ota-lab --help)'],
    ['lab', ['start', '--throttle', 'fast'], 'ota-lab: --throttle fast is not valid: expected one of platform, off (see ota-lab --help)'],
    ['lab', ['start', '--api-port', '80x'], 'ota-lab: --api-port 80x is not valid: expected a port from 0 to 65535 (0 picks a free one) (see ota-lab --help)'],
    ['lab', ['start', '--mqtt-port', '70000'], 'ota-lab: --mqtt-port 70000 is not valid: expected a port from 0 to 65535 (0 picks a free one) (see ota-lab --help)'],
    ['lab', ['fault', 'fw1', '--bytes-per-sec', '-5'], 'ota-lab: --bytes-per-sec -5 is not valid: expected a whole number of bytes per second, 1 or more (see ota-lab --help)'],
    ['lab', ['fault', 'fw1', '--close-after-bytes', '1.5'], 'ota-lab: --close-after-bytes 1.5 is not valid: expected a number of bytes, 0 or more (see ota-lab --help)'],
    ['lab', ['firmware', 'add', 'x.bin', '--version', '1', '--sign-method', 'sha1'], 'ota-lab: --sign-method sha1 is not valid: expected MD5 or SHA256 (any case) (see ota-lab --help)'],
    ['lab', ['demo', '--devices', '11'], 'ota-lab: --devices 11 is not valid: expected a whole number from 1 to 10 (see ota-lab --help)'],
    ['lab', ['demo', '--size', '2GiB'], 'ota-lab: --size 2GiB is out of range: expected 1 byte to 1000MiB (the platform\'s upload limit)'],
    ['lab', ['demo', '--size', '64mb!'], 'ota-lab: --size 64mb! is not a size: expected a number with an optional unit, e.g. 512KiB, 64MiB, 64MB, 1GiB'],
  ] as const)('ota-%s %j', async (bin, args, line) => {
    const r = await runCliToEnd(BIN[bin], [...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(line);
  });

  it('ota-verify status --junit is refused and writes nothing (it did exit 0 without a report)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-usage-'));
    try {
      const r = await runCliToEnd(BIN.verify, ['status', 'J1', '--lab', join(dir, 'lab.json'), '--junit', join(dir, 'x.xml')]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe('ota-verify: status does not take --junit (see ota-verify --help)');
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
