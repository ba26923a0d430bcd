// The `ota-agent` command line: `run` (the bench agent) and `check` (validate, connect, report the
// version, exit). Argument parsing only; the agent itself is startAgent.
import yargs, { type Argv } from 'yargs';
import { EXIT_USAGE, runCli, UsageError } from '../shared/cli-support.js';
import { packageVersion } from '../shared/package-version.js';
import { usageFailure } from '../shared/usage-message.js';
import { requireFlagValues, type FlagExpects } from '../shared/cli-values.js';
import { isOtaError } from '../shared/errors.js';
import type { AgentConfigInput } from './agent-config.js';

function exitCodeOf(err: unknown): number {
  if (isOtaError(err, 'INVALID_CONFIG') || isOtaError(err, 'LAB_FILE_UNREADABLE') || isOtaError(err, 'LAB_FILE_INVALID')) return EXIT_USAGE;
  if (isOtaError(err)) return 3;
  return 1;
}

/** What each value flag takes, for `--flag needs a value: …` (choices flags list their choices). */
export const AGENT_EXPECTS: FlagExpects = Object.freeze({
  config: 'the bench\'s JSON config file',
  lab: 'the lab.json file that ota-lab start wrote',
  device: 'the name of one of the lab\'s devices, e.g. bench-01',
  'work-dir': 'the agent\'s work directory',
  'install-command': 'a shell command that installs the firmware',
  'public-key': 'a PEM public key file',
  'ca-file': 'a CA certificate file (PEM)',
  module: 'the name of the module to clear, e.g. default',
});

interface CommonArgs {
  config?: string;
  lab?: string;
  device?: string;
  'work-dir'?: string;
  'install-command'?: string;
  'simulate-install'?: boolean;
  'simulate-fail'?: 'health' | 'rollback';
  'public-key'?: string;
  'ca-file'?: string;
  'log-level'?: string;
  'log-format'?: string;
}

/** What a bench is: its config (or lab device) and the flags that override it; run and check. */
function benchOptions<T>(y: Argv<T>) {
  return y
    .option('config', { type: 'string', describe: 'the bench\'s JSON config file' })
    .option('lab', { type: 'string', describe: 'a lab connection file (ota-lab start) instead of a config' })
    .option('device', { type: 'string', describe: 'with --lab: which lab device to be' })
    .option('work-dir', { type: 'string', describe: 'a directory for the downloads and the upgrade state' })
    .option('install-command', { type: 'string', describe: 'a shell command that installs the firmware' })
    .option('simulate-install', { type: 'boolean', describe: 'keep the firmware in the work dir and take its version (lab, demo)' })
    .option('simulate-fail', { choices: ['health', 'rollback'] as const, describe: 'with --simulate-install: the self-test fails (health), and the rollback too (rollback)' })
    .option('public-key', { type: 'string', describe: 'PEM key whose detached signature each firmware must carry' })
    .option('ca-file', { type: 'string', describe: 'CA for the MQTT endpoint (the platform\'s 8883 root, or the lab\'s)' })
    .option('log-level', { choices: ['trace', 'debug', 'info', 'warn', 'error', 'silent'], describe: 'log level (on stderr); default: the config\'s logLevel, info' })
    .option('log-format', { choices: ['json', 'pretty'], describe: 'log lines as JSON, or one human line each; default: the config\'s logFormat, else pretty on a terminal and JSON otherwise' });
}

/** status and reset read the work dir only: where it is, no connection options. */
function stateOptions<T>(y: Argv<T>) {
  return y
    .option('config', { type: 'string', describe: 'the bench\'s JSON config file' })
    .option('lab', { type: 'string', describe: 'a lab connection file (ota-lab start) instead of a config' })
    .option('device', { type: 'string', describe: 'with --lab: which lab device' })
    .option('work-dir', { type: 'string', describe: 'the agent\'s work dir (alone, without --config or --lab)' });
}

function sourcesOf(a: CommonArgs) {
  if (!a.config && !a.lab) throw new UsageError('say where the configuration is: --config bench.json, or --lab lab.json --device NAME');
  if (a.lab && !a.device) throw new UsageError('--lab needs --device NAME (one of the lab\'s devices)');
  const overrides: Partial<AgentConfigInput> = {
    workDir: a['work-dir'], installCommand: a['install-command'], simulateInstall: a['simulate-install'],
    publicKeyFile: a['public-key'], caFile: a['ca-file'], logLevel: a['log-level'] as AgentConfigInput['logLevel'], logFormat: a['log-format'] as AgentConfigInput['logFormat'], simulateFailure: a['simulate-fail'],
  };
  return { ...(a.config ? { configFile: a.config } : { labFile: a.lab, device: a.device }), overrides };
}

/** status/reset read files only: a config (or lab) file, or --work-dir alone. */
function stateSourcesOf(a: CommonArgs) {
  if (!a.config && !a.lab) {
    if (!a['work-dir']) throw new UsageError('say where the agent works: --config bench.json, --lab lab.json --device NAME, or --work-dir DIR');
    return { workDir: a['work-dir'] };
  }
  return { config: sourcesOf(a) };
}

export async function runAgentCli(argv: string[]): Promise<void> {
  await runCli('ota-agent', async () => {
    let code = 0;
    await yargs(argv)
      .scriptName('ota-agent')
      .middleware(requireFlagValues('ota-agent', argv, AGENT_EXPECTS), true)
      .usage('$0 <command>\n\nThe bench agent: the device under test as far as Alibaba Cloud IoT Platform is concerned.\nThe device secret comes from OTA_DEVICE_SECRET or deviceSecretFile, never from the command line.')
      .command('run', 'run the agent until SIGTERM/SIGINT', (y) => benchOptions(y)
        .example('$0 run --config /etc/ota-agent/bench.json', 'on a real bench (secret in OTA_DEVICE_SECRET)')
        .example('$0 run --lab lab.json --device bench-01', 'as a lab device, simulated install'),
      async (a) => {
        const { runAgent } = await import('./commands/run-command.js');
        code = await runAgent(sourcesOf(a));
      })
      .command('check', 'validate the config, connect, report the version, exit', (y) => benchOptions(y)
        .example('$0 check --config /etc/ota-agent/bench.json', 'exit 0 when the bench connects and reports its version; 2 bad config; 3 refused or unreachable'),
      async (a) => {
        const { checkAgent } = await import('./commands/run-command.js');
        code = await checkAgent(sourcesOf(a));
      })
      .command('status', 'print each module\'s upgrade state from the work dir (exit 1 if one needs recovery)', (y) => stateOptions(y)
        .example('$0 status --config /etc/ota-agent/bench.json', 'each module\'s state; no connection, no secret'), async (a) => {
        const { statusCommand } = await import('./commands/status-command.js');
        code = await statusCommand(stateSourcesOf(a), (l) => process.stdout.write(`${l}\n`));
      })
      .command('reset', 'clear a module\'s "needs recovery" state after putting the bench right by hand', (y) => stateOptions(y)
        .option('module', { type: 'string', demandOption: true, describe: 'the module to clear' })
        .example('$0 reset --config /etc/ota-agent/bench.json --module default', 'after fixing the bench by hand'), async (a) => {
        const { resetCommand } = await import('./commands/status-command.js');
        code = await resetCommand(stateSourcesOf(a), a.module, (l) => process.stdout.write(`${l}\n`));
      })
      .demandCommand(1, 'say which command: run, check, status or reset')
      .strict()
      .fail(usageFailure('ota-agent', argv, { commands: ['run', 'check'], positionals: {} }))
      .help()
      .version(packageVersion())
      .parseAsync();
    return code;
  }, exitCodeOf);
}
