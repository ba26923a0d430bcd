// The `ota-verify` command line: argument parsing only; the commands live in commands/.
import yargs, { type Argv } from 'yargs';
import { runCli, UsageError } from '../shared/cli-support.js';
import { packageVersion } from '../shared/package-version.js';
import { usageFailure } from '../shared/usage-message.js';
import { requireFlagValues, type FlagExpects } from '../shared/cli-values.js';
import type { SessionArgs } from './commands/session.js';
import type { WatchLimits } from './commands/watch-verdict.js';
import { CLI_DEFAULTS } from './cli-defaults.js';
import { exitCodeOf } from './exit-codes.js';
import { uploadArgsOf, uploadOptions } from './upload-options.js';

// Each command is offered only the options that act on it (with .strict(), any other is refused).

/** Where to talk to and how: every command. */
function target<T>(y: Argv<T>) {
  return y
    .option('lab', { type: 'string', describe: 'a lab connection file (ota-lab start)' })
    .option('region', { type: 'string', describe: 'platform region, e.g. cn-shanghai (endpoint https://iot.<region>.aliyuncs.com)' })
    .option('endpoint', { type: 'string', describe: 'OpenAPI endpoint URL instead of the region\'s' })
    .option('instance-id', { type: 'string', describe: 'IotInstanceId of an Enterprise instance' })
    .option('profile', { type: 'string', describe: 'credentials from this Alibaba Cloud CLI profile (~/.aliyun/config.json)' })
    .option('budget', { type: 'number', default: CLI_DEFAULTS.budget, describe: 'account-wide API requests per second from this process' })
    .option('log-level', { choices: ['trace', 'debug', 'info', 'warn', 'error', 'silent'], default: 'warn', describe: 'diagnostic log on stderr (JSON; one human line each on a terminal)' });
}

/** A JSON document on stdout: verify, watch, status, firmware. */
function jsonOutput<T>(y: Argv<T>, schema: string) {
  return y.option('json', { type: 'boolean', default: false, describe: `print one JSON document (schema ${schema}) on stdout` });
}

/** Quiet: the commands that print progress or notes on stderr. */
function quietOutput<T>(y: Argv<T>) {
  return y.option('quiet', { type: 'boolean', default: false, describe: 'no live view and no progress lines; errors and the --json/--junit output stay' });
}

/** Watching a job to its verdict: verify and watch. */
function watching<T>(y: Argv<T>) {
  return quietOutput(jsonOutput(y, 'ota-verify/result@2'))
    .option('junit', { type: 'string', describe: 'a file to write a JUnit XML report to' })
    .option('poll-min-ms', { type: 'number', default: CLI_DEFAULTS.pollMinMs, describe: 'shortest interval between two regular polls of a job, in ms (while devices move); when the benches look about to end, an early poll may come 250 ms after the last, only while the API budget is idle' })
    .option('poll-max-ms', { type: 'number', default: CLI_DEFAULTS.pollMaxMs, describe: 'longest interval between two polls, in ms (while nothing changes)' })
    .option('cancel-on-interrupt', { type: 'boolean', default: false, describe: 'Ctrl-C cancels the job instead of only stopping the watch' })
    .option('start-timeout-minutes', { type: 'number', default: CLI_DEFAULTS.startTimeoutMinutes, describe: 'a number of minutes (fractions allowed): a bench with no progress this long after this run first sees its task fails (offline, agent not running) and its task is cancelled; 0 waits forever' })
    .option('max-wait-minutes', { type: 'number', alias: 'max-wait', describe: 'a number of minutes (fractions allowed) after which this run ends; unfinished benches fail and their tasks are cancelled' });
}

/** What each value flag takes, for `--flag needs a value: …` (choices flags list their choices). */
export const VERIFY_EXPECTS: FlagExpects = Object.freeze({
  lab: 'the lab.json file that ota-lab start wrote',
  region: 'a region id, e.g. cn-shanghai',
  endpoint: 'an OpenAPI endpoint URL, e.g. https://iot.cn-shanghai.aliyuncs.com',
  'instance-id': 'the IotInstanceId of an Enterprise instance, e.g. iot-06z00abcdefg',
  profile: 'the name of a profile in ~/.aliyun/config.json',
  budget: 'a number of API requests per second, 1 or more',
  junit: 'a file name for the JUnit XML report',
  'poll-min-ms': 'the shortest time between two polls, in milliseconds (100 or more)',
  'poll-max-ms': 'the longest time between two polls, in milliseconds',
  'start-timeout-minutes': 'the minutes a bench may show no progress before it fails (fractions allowed; 0 waits for ever)',
  'max-wait-minutes': 'the minutes this run may last (fractions allowed)',
  version: 'the version the firmware installs, as the benches report it (e.g. 2.1.0)',
  module: 'the name of the firmware\'s OTA module',
  'src-version': 'the version a delta package upgrades from',
  'firmware-name': 'a name for the firmware',
  desc: 'a description of up to 100 characters',
  udi: 'the firmware\'s Udi (extra data for the devices)',
  'product-key': 'the product key of the test devices',
  'upload product-key': 'the product key the firmware is for',
  file: 'the firmware file to upload',
  'firmware-id': 'the FirmwareId of a registered firmware',
  device: 'the name of a test device',
  devices: 'the names of the test devices, separated by commas',
  'timeout-minutes': 'the task timeout in minutes, 1 to 1440',
  tag: 'a tag as KEY=VALUE',
  'download-protocol': 'HTTPS or MQTT',
});

type Common = {
  lab?: string; region?: string; endpoint?: string; 'instance-id'?: string; profile?: string; budget: number; 'log-level': string;
  json?: boolean; junit?: string; quiet?: boolean; 'poll-min-ms'?: number; 'poll-max-ms'?: number; 'cancel-on-interrupt'?: boolean;
};

function sessionArgs(a: Common): SessionArgs {
  const pollMinMs = a['poll-min-ms'] ?? CLI_DEFAULTS.pollMinMs;
  const pollMaxMs = a['poll-max-ms'] ?? CLI_DEFAULTS.pollMaxMs;
  if (!(a.budget >= 1)) throw new UsageError('--budget must be at least 1 request per second');
  if (!(pollMinMs >= 100) || !(pollMaxMs >= pollMinMs)) throw new UsageError('--poll-min-ms must be >= 100 and --poll-max-ms >= --poll-min-ms');
  return {
    ...(a.lab ? { lab: a.lab } : {}), ...(a.region ? { region: a.region } : {}), ...(a.endpoint ? { endpoint: a.endpoint } : {}),
    ...(a['instance-id'] ? { instanceId: a['instance-id'] } : {}), ...(a.profile ? { profile: a.profile } : {}), ...(a.junit ? { junit: a.junit } : {}),
    json: a.json ?? false, quiet: a.quiet ?? false, budget: a.budget, pollMinMs, pollMaxMs, cancelOnInterrupt: a['cancel-on-interrupt'] ?? false, logLevel: a['log-level'],
  };
}

function minutes(flag: string, v: number | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v < min || v > 7 * 24 * 60) throw new UsageError(`--${flag} ${String(v)} is not valid: expected minutes from ${min} to ${7 * 24 * 60} (fractions allowed)`);
  return v;
}

/** --start-timeout-minutes and --max-wait: verify and watch bound their watch the same way. */
function boundArgs(a: { 'start-timeout-minutes': number; 'max-wait-minutes'?: number }): WatchLimits {
  const maxWait = minutes('max-wait-minutes', a['max-wait-minutes'], 0.01);
  return { startTimeoutMinutes: minutes('start-timeout-minutes', a['start-timeout-minutes'], 0) ?? CLI_DEFAULTS.startTimeoutMinutes, ...(maxWait !== undefined ? { maxWaitMinutes: maxWait } : {}) };
}

/** The value of `--name V` or `--name=V` in raw argv (yargs may not have got that far). */
function rawFlag(argv: string[], name: string): string | undefined {
  const i = argv.findIndex((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const arg = argv[i] as string;
  return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
}

/** A usage error found before verify or watch started still leaves the --json / --junit reports. */
async function reportUsageError(argv: string[], err: unknown): Promise<void> {
  if (argv[0] !== 'verify' && argv[0] !== 'watch') return;
  const json = argv.includes('--json');
  const junit = rawFlag(argv, 'junit');
  if (!json && (junit === undefined || junit.startsWith('--'))) return;
  const { reportError, wasReported } = await import('./commands/verdict-output.js');
  if (wasReported(err)) return;
  const devices = [rawFlag(argv, 'devices'), ...argv.flatMap((x, i) => (x === '--device' ? [argv[i + 1] ?? ''] : []))].filter((d): d is string => Boolean(d)).flatMap((d) => d.split(','));
  await reportError({ json, ...(junit && !junit.startsWith('--') ? { junit } : {}) }, {
    firmwareId: rawFlag(argv, 'firmware-id') ?? '', productKey: rawFlag(argv, 'product-key') ?? '', startedMs: Date.now(), warnings: [], devices, jobId: argv[0] === 'watch' ? (argv[1] ?? null) : null, firmwareStatus: null,
  }, err, 2);
}

const COMMANDS = {
  commands: ['verify', 'upload', 'watch', 'status', 'cancel', 'firmware'],
  positionals: { upload: 'a FILE', watch: 'a JOB_ID', status: 'a JOB_ID', cancel: 'a JOB_ID', firmware: 'a FIRMWARE_ID' },
} as const;

export async function runVerifyCli(argv: string[]): Promise<void> {
  await runCli('ota-verify', async () => {
    // `verify --file F --version V` and `upload` take the firmware's version, so yargs' own --version
    // stays off and `ota-verify --version` alone prints ours.
    if (argv.length === 1 && argv[0] === '--version') {
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    let code = 0;
    // The commands (the API client, pino, zod) load only when one runs: `--help` stays quick.
    const cmds = () => import('./commands/verify-commands.js');
    const jobCmds = () => import('./commands/job-commands.js');
    // yargs may throw a usage error synchronously or reject with it: both reach the catch below.
    await Promise.resolve().then(() => yargs(argv)
      .scriptName('ota-verify')
      .middleware(requireFlagValues('ota-verify', argv, VERIFY_EXPECTS), true)
      .usage('$0 <command>\n\nProve a firmware on test benches with a verification job (CreateOTAVerifyJob) and give CI a verdict.\nExit codes: 0 verified (or needs no verification), 1 verification failed, 2 bad usage or refused,\n3 platform, auth or network failure, 4 stopped watching before the end.')
      .command('verify', 'check, create the verify job, watch it to the verdict', (y) => uploadOptions(watching(target(y)))
        .option('product-key', { type: 'string', describe: 'ProductKey the firmware belongs to (--lab: from lab.json)' })
        .option('file', { type: 'string', describe: 'a firmware file: upload and register it (or find it registered), then verify it; needs --version' })
        .option('firmware-id', { type: 'string', describe: 'a registered firmware to verify (instead of --file)' })
        .conflicts('file', 'firmware-id')
        .option('device', { type: 'string', array: true, default: [] as string[], describe: 'a test device (1-10)' })
        .option('devices', { type: 'string', describe: 'comma-separated test devices' })
        .option('timeout-minutes', { type: 'string', describe: 'task timeout, 1-1440, counted from the first progress' })
        .option('tag', { type: 'string', array: true, default: [] as string[], describe: 'KEY=VALUE, sent to the devices in extData' })
        .option('push', { type: 'boolean', default: true, describe: '--no-push: devices must ask (firmware/get)' })
        .option('need-confirm', { type: 'boolean', default: false, describe: 'each task waits for ConfirmOTATask before the notice' })
        .option('download-protocol', { type: 'string', default: 'HTTPS', describe: 'how devices download: HTTPS or MQTT' })
        .option('wait', { type: 'boolean', default: true, describe: '--no-wait prints the JobId and exits' })
        .option('skip-current', { type: 'boolean', default: false, describe: 'leave out benches already on the destination version (otherwise refused)' })
        .example('$0 verify --lab lab.json --file build/fw.bin --version 2.1.0 --devices bench-01,bench-02', 'in the lab, from the built file')
        .example('$0 verify --lab lab.json --firmware-id fw000001 --devices bench-01,bench-02', 'in the lab, a registered firmware')
        .example('$0 verify --region cn-shanghai --product-key a1xx --firmware-id XYZ --device tb-1 --device tb-2 --junit verify.xml', 'on the platform, in CI'),
      async (a) => {
        const upload = uploadArgsOf(a, a.file);
        if (!upload && !a['firmware-id']) throw new UsageError('say which firmware: --file FILE --version V (upload it), or --firmware-id FID');
        code = await (await cmds()).runVerify({
          ...sessionArgs(a), ...(a['product-key'] ? { productKey: a['product-key'] } : {}), ...(a['firmware-id'] ? { firmwareId: a['firmware-id'] } : {}), ...(upload ? { upload } : {}),
          devices: [...a.device, ...(a.devices ? [a.devices] : [])], ...(a['timeout-minutes'] !== undefined ? { timeoutMinutes: a['timeout-minutes'] as unknown as number } : {}),
          tags: a.tag, push: a.push, needConfirm: a['need-confirm'], downloadProtocol: a['download-protocol'], wait: a.wait,
          skipCurrent: a['skip-current'], ...boundArgs(a),
        });
      })
      .command('upload <file>', 'upload a firmware file and register it (or find it registered); prints the FirmwareId', (y) => uploadOptions(quietOutput(jsonOutput(target(y), 'ota-verify/upload@1')))
        .positional('file', { type: 'string', demandOption: true })
        .option('product-key', { type: 'string' })
        .demandOption('version')
        .example('$0 upload build/fw.bin --version 2.1.0 --product-key a1xx --region cn-shanghai --json', 'in CI'),
      async (a) => {
        const upload = uploadArgsOf(a, a.file) as NonNullable<ReturnType<typeof uploadArgsOf>>;
        code = await (await import('./commands/upload-command.js')).runUpload({ ...sessionArgs(a), upload, ...(a['product-key'] ? { productKey: a['product-key'] } : {}) });
      })
      .command('watch <job-id>', 're-attach to a running or finished job', (y) => watching(target(y)).positional('job-id', { type: 'string', demandOption: true })
        .example('$0 watch 4lEr0cFdqj9vU2pXzQ1o010200 --lab lab.json --junit verify.xml', 'after Ctrl-C or a crash: the same verdict, exit code and reports'),
      async (a) => { code = await (await jobCmds()).runWatch({ ...sessionArgs(a), jobId: a['job-id'], ...boundArgs(a) }); })
      .command('status <job-id>', 'print a job and its tasks once', (y) => jsonOutput(target(y), 'ota-verify/status@1').positional('job-id', { type: 'string', demandOption: true })
        .example('$0 status 4lEr0cFdqj9vU2pXzQ1o010200 --region cn-shanghai --json', 'one JSON document, schema ota-verify/status@1'),
      async (a) => { code = await (await jobCmds()).runStatus({ ...sessionArgs(a), jobId: a['job-id'] }); })
      .command('cancel <job-id>', 'cancel a job\'s unfinished tasks', (y) => quietOutput(target(y)).positional('job-id', { type: 'string', demandOption: true })
        .example('$0 cancel 4lEr0cFdqj9vU2pXzQ1o010200 --lab lab.json', 'its tasks become CANCELED; the firmware\'s verification fails'),
      async (a) => { code = await (await jobCmds()).runCancel({ ...sessionArgs(a), jobId: a['job-id'] }); })
      .command('firmware <firmware-id>', 'show a firmware and its verification status', (y) => jsonOutput(target(y), 'ota-verify/firmware@1').positional('firmware-id', { type: 'string', demandOption: true })
        .example('$0 firmware fw000001 --lab lab.json --json', 'one JSON document, schema ota-verify/firmware@1'),
      async (a) => { code = await (await jobCmds()).runFirmware({ ...sessionArgs(a), firmwareId: a['firmware-id'] }); })
      .demandCommand(1, 'say which command: verify, upload, watch, status, cancel, firmware')
      .strict()
      .fail(usageFailure('ota-verify', argv, COMMANDS))
      .help()
      .version(false)
      .parseAsync())
      .catch(async (err: unknown) => {
        if (err instanceof UsageError) await reportUsageError(argv, err);
        throw err;
      });
    return code;
  }, exitCodeOf);
}
