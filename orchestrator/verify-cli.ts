// The `ota-verify` command line: argument parsing only; the commands live in commands/.
import yargs, { type Argv } from 'yargs';
import { runCli, UsageError } from '../shared/cli-support.js';
import { packageVersion } from '../shared/package-version.js';
import { usageMessage } from '../shared/usage-message.js';
import type { SessionArgs } from './commands/verify-commands.js';
import { exitCodeOf } from './exit-codes.js';

function common<T>(y: Argv<T>) {
  return y
    .option('lab', { type: 'string', describe: 'a lab connection file (ota-lab start)' })
    .option('region', { type: 'string', describe: 'platform region, e.g. cn-shanghai (endpoint https://iot.<region>.aliyuncs.com)' })
    .option('endpoint', { type: 'string', describe: 'OpenAPI endpoint URL instead of the region\'s' })
    .option('instance-id', { type: 'string', describe: 'IotInstanceId of an Enterprise instance' })
    .option('profile', { type: 'string', describe: 'credentials from this Alibaba Cloud CLI profile (~/.aliyun/config.json)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one final JSON document on stdout' })
    .option('junit', { type: 'string', describe: 'write a JUnit XML report here' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no live view and no progress lines; errors and the --json/--junit output stay' })
    .option('budget', { type: 'number', default: 8, describe: 'account-wide API requests per second from this process' })
    .option('poll-min-ms', { type: 'number', default: 1000, describe: 'shortest interval between two polls of a job, in ms (while devices move)' })
    .option('poll-max-ms', { type: 'number', default: 10_000, describe: 'longest interval between two polls, in ms (while nothing changes)' })
    .option('cancel-on-interrupt', { type: 'boolean', default: false, describe: 'Ctrl-C cancels the job instead of only stopping the watch' })
    .option('log-level', { choices: ['trace', 'debug', 'info', 'warn', 'error', 'silent'], default: 'warn', describe: 'diagnostic log on stderr (JSON)' });
}

type Common = { lab?: string; region?: string; endpoint?: string; 'instance-id'?: string; profile?: string; json: boolean; junit?: string; quiet: boolean; budget: number; 'poll-min-ms': number; 'poll-max-ms': number; 'cancel-on-interrupt': boolean; 'log-level': string };

function sessionArgs(a: Common): SessionArgs {
  if (!(a.budget >= 1)) throw new UsageError('--budget must be at least 1 request per second');
  if (!(a['poll-min-ms'] >= 100) || !(a['poll-max-ms'] >= a['poll-min-ms'])) throw new UsageError('--poll-min-ms must be >= 100 and --poll-max-ms >= --poll-min-ms');
  return {
    ...(a.lab ? { lab: a.lab } : {}), ...(a.region ? { region: a.region } : {}), ...(a.endpoint ? { endpoint: a.endpoint } : {}),
    ...(a['instance-id'] ? { instanceId: a['instance-id'] } : {}), ...(a.profile ? { profile: a.profile } : {}), ...(a.junit ? { junit: a.junit } : {}),
    json: a.json, quiet: a.quiet, budget: a.budget, pollMinMs: a['poll-min-ms'], pollMaxMs: a['poll-max-ms'], cancelOnInterrupt: a['cancel-on-interrupt'], logLevel: a['log-level'],
  };
}

const COMMANDS = {
  commands: ['verify', 'watch', 'status', 'cancel', 'firmware'],
  positionals: { watch: 'a JOB_ID', status: 'a JOB_ID', cancel: 'a JOB_ID', firmware: 'a FIRMWARE_ID' },
} as const;

export async function runVerifyCli(argv: string[]): Promise<void> {
  await runCli('ota-verify', async () => {
    let code = 0;
    // The commands (the API client, pino, zod) load only when one runs: `--help` stays quick.
    const cmds = () => import('./commands/verify-commands.js');
    await yargs(argv)
      .scriptName('ota-verify')
      .usage('$0 <command>\n\nProve a firmware on test benches with a verification job (CreateOTAVerifyJob) and give CI a verdict.\nExit codes: 0 verified (or needs no verification), 1 verification failed, 2 bad usage or refused,\n3 platform, auth or network failure, 4 stopped watching before the end.')
      .command('verify', 'check, create the verify job, watch it to the verdict', (y) => common(y)
        .option('product-key', { type: 'string', describe: 'ProductKey the firmware belongs to (--lab: from lab.json)' })
        .option('firmware-id', { type: 'string', demandOption: true, describe: 'the FirmwareId to verify' })
        .option('device', { type: 'string', array: true, default: [] as string[], describe: 'a test device (1-10)' })
        .option('devices', { type: 'string', describe: 'comma-separated test devices' })
        .option('timeout-minutes', { type: 'string', describe: 'task timeout, 1-1440, counted from the first progress' })
        .option('tag', { type: 'string', array: true, default: [] as string[], describe: 'KEY=VALUE, sent to the devices in extData' })
        .option('push', { type: 'boolean', default: true, describe: '--no-push: devices must ask (firmware/get)' })
        .option('need-confirm', { type: 'boolean', default: false, describe: 'each task waits for ConfirmOTATask before the notice' })
        .option('download-protocol', { type: 'string', default: 'HTTPS', describe: 'how devices download: HTTPS or MQTT' })
        .option('wait', { type: 'boolean', default: true, describe: '--no-wait prints the JobId and exits' })
        .example('$0 verify --lab lab.json --firmware-id fw000001 --devices bench-01,bench-02', 'in the lab')
        .example('$0 verify --region cn-shanghai --product-key a1xx --firmware-id XYZ --device tb-1 --device tb-2 --junit verify.xml', 'on the platform, in CI'),
      async (a) => {
        code = await (await cmds()).runVerify({
          ...sessionArgs(a), ...(a['product-key'] ? { productKey: a['product-key'] } : {}), firmwareId: a['firmware-id'],
          devices: [...a.device, ...(a.devices ? [a.devices] : [])], ...(a['timeout-minutes'] !== undefined ? { timeoutMinutes: a['timeout-minutes'] as unknown as number } : {}),
          tags: a.tag, push: a.push, needConfirm: a['need-confirm'], downloadProtocol: a['download-protocol'], wait: a.wait,
        });
      })
      .command('watch <job-id>', 're-attach to a running or finished job', (y) => common(y).positional('job-id', { type: 'string', demandOption: true }),
        async (a) => { code = await (await cmds()).runWatch({ ...sessionArgs(a), jobId: a['job-id'] }); })
      .command('status <job-id>', 'print a job once', (y) => common(y).positional('job-id', { type: 'string', demandOption: true }),
        async (a) => { code = await (await cmds()).runStatus({ ...sessionArgs(a), jobId: a['job-id'] }); })
      .command('cancel <job-id>', 'cancel a job\'s unfinished tasks', (y) => common(y).positional('job-id', { type: 'string', demandOption: true }),
        async (a) => { code = await (await cmds()).runCancel({ ...sessionArgs(a), jobId: a['job-id'] }); })
      .command('firmware <firmware-id>', 'show a firmware and its verification status', (y) => common(y).positional('firmware-id', { type: 'string', demandOption: true }),
        async (a) => { code = await (await cmds()).runFirmware({ ...sessionArgs(a), firmwareId: a['firmware-id'] }); })
      .demandCommand(1, 'say which command: verify, watch, status, cancel, firmware')
      .strict()
      .fail((msg, err) => { throw err ?? new UsageError(`${usageMessage(msg, argv, COMMANDS)} (see ota-verify --help)`); })
      .help()
      .version(packageVersion())
      .parseAsync();
    return code;
  }, exitCodeOf);
}
