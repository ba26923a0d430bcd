// A flag that takes a value, typed without one, is a usage error in all three CLIs (exit 2, the flag
// named with what it takes). yargs alone gives such a flag its default (`ota-lab start --api-port`
// started a lab on a random port) or '' / undefined; nothing may start or be written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, spawnCli } from '../helpers/processes.js';
import { AGENT_EXPECTS } from '../../agent/agent-cli.js';
import { LAB_EXPECTS } from '../../lab/lab-cli.js';
import { VERIFY_EXPECTS } from '../../orchestrator/verify-cli.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'cli-missing-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** Run in an empty folder of its own; a program that starts a long-running service instead of
 *  refusing (the bug) is stopped once it says so, and the test then fails on its exit code. */
async function runIn(bin: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; files: string[]; cwd: string }> {
  const cwd = await mkdtemp(join(dir, 'run-'));
  const p = spawnCli(bin, args, { cwd });
  const started = p.waitFor(/ota-lab is running|connected|ota-lab demo:/).then(() => p.stop('SIGKILL'), () => undefined);
  const code = await p.exited;
  await started;
  return { code, stdout: p.stdout(), stderr: p.stderr(), files: await readdir(cwd), cwd };
}

describe('a value flag given without its value', () => {
  it.each([
    ['lab', ['start', '--api-port'], 'ota-lab: --api-port needs a value: a port from 0 to 65535 (0 picks a free one) (see ota-lab --help)'],
    ['lab', ['start', '--devices'], 'ota-lab: --devices needs a value: a number of devices from 0 to 100000 (see ota-lab --help)'],
    // Followed by another flag: yargs reads no value there either.
    ['lab', ['start', '--devices', '--api-port', '0'], 'ota-lab: --devices needs a value: a number of devices from 0 to 100000 (see ota-lab --help)'],
    ['lab', ['start', '--mqtt-port='], 'ota-lab: --mqtt-port needs a value: a port from 0 to 65535 (0 picks a free one) (see ota-lab --help)'],
    ['lab', ['start', '--log-level'], 'ota-lab: --log-level needs a value: one of trace, debug, info, warn, error, silent (see ota-lab --help)'],
    ['lab', ['start', '--connection-file'], 'ota-lab: --connection-file needs a value: a file name for the lab connection file, e.g. lab.json (see ota-lab --help)'],
    ['lab', ['firmware', 'list', '--lab'], 'ota-lab: --lab needs a value: the lab.json file that ota-lab start wrote (see ota-lab --help)'],
    ['lab', ['firmware', 'add', 'fw.bin', '--version'], 'ota-lab: --version needs a value: the version the firmware installs, e.g. 2.0.0 (see ota-lab --help)'],
    ['lab', ['fault', 'fw1', '--flip-byte-at'], 'ota-lab: --flip-byte-at needs a value: a byte offset, 0 or more (see ota-lab --help)'],
    ['lab', ['demo', '--size'], 'ota-lab: --size needs a value: a size such as 512KiB or 8MiB (see ota-lab --help)'],
    ['lab', ['demo', '--devices'], 'ota-lab: --devices needs a value: a number of benches from 1 to 10 (see ota-lab --help)'],
    ['verify', ['verify', '--lab', 'lab.json', '--firmware-id', 'fw', '--devices'], 'ota-verify: --devices needs a value: the names of the test devices, separated by commas (see ota-verify --help)'],
    ['verify', ['verify', '--lab', 'lab.json', '--firmware-id', 'fw', '--device'], 'ota-verify: --device needs a value: the name of a test device (see ota-verify --help)'],
    ['verify', ['verify', '--lab', 'lab.json', '--firmware-id', 'fw', '--devices', 'b1', '--max-wait'], 'ota-verify: --max-wait needs a value: the minutes this run may last (fractions allowed) (see ota-verify --help)'],
    ['verify', ['status', 'J1', '--lab'], 'ota-verify: --lab needs a value: the lab.json file that ota-lab start wrote (see ota-verify --help)'],
    ['verify', ['firmware', 'F1', '--lab', 'lab.json', '--budget'], 'ota-verify: --budget needs a value: a number of API requests per second, 1 or more (see ota-verify --help)'],
    ['agent', ['run', '--config'], "ota-agent: --config needs a value: the bench's JSON config file (see ota-agent --help)"],
    ['agent', ['check', '--lab', 'lab.json', '--device'], "ota-agent: --device needs a value: the name of one of the lab's devices, e.g. bench-01 (see ota-agent --help)"],
    ['verify', ['verify', '--lab', 'lab.json', '--firmware-id', 'fw', '--devices', 'b1', '--product-key'], 'ota-verify: --product-key needs a value: the product key of the test devices (see ota-verify --help)'],
    ['verify', ['upload', 'fw.bin', '--version', '1.0.0', '--product-key'], 'ota-verify: --product-key needs a value: the product key the firmware is for (see ota-verify --help)'],
    ['verify', ['watch', 'J1', '--lab', 'lab.json', '--poll-min-ms'], 'ota-verify: --poll-min-ms needs a value: the shortest time between two polls, in milliseconds (100 or more) (see ota-verify --help)'],
    ['lab', ['fault', 'fw1', '--close-times'], 'ota-lab: --close-times needs a value: a number of times, 1 or more (see ota-lab --help)'],
    ['agent', ['reset', '--work-dir', 'w', '--module'], 'ota-agent: --module needs a value: the name of the module to clear, e.g. default (see ota-agent --help)'],
  ] as const)('ota-%s %j: exit 2, one line, nothing written', async (bin, args, line) => {
    const r = await runIn(BIN[bin], [...args]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(line);
    expect(r.files).toEqual([]);
  });

  it('ota-verify watch --max-wait with nothing after it still writes the --json and --junit reports (verdict refused)', async () => {
    const r = await runIn(BIN.verify, ['watch', 'J1', '--lab', 'lab.json', '--junit', 'w.xml', '--max-wait']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^ota-verify: --max-wait needs a value: the minutes this run may last/);
    expect(r.files).toEqual(['w.xml']);
    expect(await readFile(join(r.cwd, 'w.xml'), 'utf8')).toMatch(/--max-wait needs a value/);
  });

  it('a negative number is a value, not a missing one (checked by the flag itself)', async () => {
    const r = await runIn(BIN.verify, ['verify', '--lab', 'lab.json', '--firmware-id', 'fw', '--devices', 'b1', '--start-timeout-minutes', '-1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('ota-verify: --start-timeout-minutes -1 is not valid: expected minutes from 0 to 10080 (fractions allowed)');
  });
});

/** Every command of the three CLIs, with what it needs before its flags (a positional). */
const COMMANDS = [
  ['verify', ['verify']], ['verify', ['upload', 'fw.bin']], ['verify', ['watch', 'J1']], ['verify', ['status', 'J1']], ['verify', ['cancel', 'J1']], ['verify', ['firmware', 'F1']],
  ['agent', ['run']], ['agent', ['check']], ['agent', ['status']], ['agent', ['reset']],
  ['lab', ['start']], ['lab', ['firmware', 'add', 'fw.bin']], ['lab', ['firmware', 'list']], ['lab', ['fault', 'F1']], ['lab', ['demo']],
] as const;

const EXPECTS = { verify: VERIFY_EXPECTS, agent: AGENT_EXPECTS, lab: LAB_EXPECTS } as const;
const PROG = { verify: 'ota-verify', agent: 'ota-agent', lab: 'ota-lab' } as const;

/** The value flags of a command as its --help lists them: name and, for a choices flag, its choices. */
async function valueFlags(bin: keyof typeof BIN, words: readonly string[]): Promise<{ flag: string; choices?: string }[]> {
  const r = await runIn(BIN[bin], [...words, '--help']);
  // One entry per option: its help text runs on over wrapped lines until the next `  --flag`.
  const entries = r.stdout.split(/\n(?= {2}--)/).filter((e: string) => e.startsWith('  --'));
  return entries.filter((e: string) => !/\[boolean\]/.test(e)).map((e: string) => {
    const flag = /^ {2}--([a-z-]+)/.exec(e)?.[1] ?? '';
    const choices = /\[choices: ([^\]]+)\]/.exec(e.replace(/\s+/g, ' '))?.[1];
    return { flag, ...(choices ? { choices: choices.replace(/"/g, '') } : {}) };
  }).filter((f) => f.flag !== 'help' && f.flag !== 'version');
}

describe('every value flag of every command says what it takes in its own words', () => {
  it.each(COMMANDS)('ota-%s %j', async (bin, words) => {
    const flags = await valueFlags(bin, words);
    expect(flags.length).toBeGreaterThan(0);
    const expects: Readonly<Record<string, string>> = EXPECTS[bin];
    for (const { flag, choices } of flags) {
      const phrase = expects[`${words[0]} ${flag}`] ?? expects[flag] ?? (choices ? `one of ${choices}` : undefined);
      // A flag without a phrase would fall back to its --help sentence (what it does, not what to type).
      expect(phrase, `${PROG[bin]} ${words[0]} --${flag} has no phrase`).toBeDefined();
      const r = await runIn(BIN[bin], [...words, `--${flag}`]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim()).toBe(`${PROG[bin]}: --${flag} needs a value: ${phrase ?? ''} (see ${PROG[bin]} --help)`);
      expect(r.files).toEqual([]);
    }
  });
});
