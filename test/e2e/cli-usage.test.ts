// Usage errors in the user's words, not the argument parser's: exact text on stderr, exit 2.
import { describe, expect, it } from 'vitest';
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
  ] as const)('ota-%s %j', async (bin, args, line) => {
    const r = await runCliToEnd(BIN[bin], [...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(line);
  });
});
