// The `ota-lab` command line: argument parsing only; each command lives in commands/.
import yargs from 'yargs';
import { EXIT_USAGE, runCli } from '../shared/cli-support.js';
import { packageVersion } from '../shared/package-version.js';
import { usageFailure } from '../shared/usage-message.js';
import { PORT_WORDS, portNumber, requireFlagValues, signMethod, wholeNumber, type FlagExpects } from '../shared/cli-values.js';
import { isOtaError } from '../shared/errors.js';
import { LAB_DEVICES_MAX } from '../shared/lab-connection.js';
import { LAB_DEFAULTS } from './lab-options.js';

function exitCodeOf(err: unknown): number {
  if (isOtaError(err, 'TRANSPORT_ERROR') || isOtaError(err, 'BAD_ANSWER')) return 3;
  if (isOtaError(err)) return EXIT_USAGE;
  return 1;
}

/** What each value flag takes, for `--flag needs a value: …` (choices flags list their choices). */
export const LAB_EXPECTS: FlagExpects = Object.freeze({
  'start devices': `a number of devices from 0 to ${LAB_DEVICES_MAX}`,
  'demo devices': 'a number of benches from 1 to 10',
  'product-key': 'the product key of the lab\'s devices',
  'state-dir': 'a directory to keep the lab\'s state in',
  broker: 'the mqtt:// or mqtts:// URL of an MQTT broker',
  'connection-file': 'a file name for the lab connection file, e.g. lab.json',
  'api-port': PORT_WORDS,
  'mqtt-port': PORT_WORDS,
  'file-port': PORT_WORDS,
  'file-host': 'a host name or IP address, without a port',
  'instance-id': 'an IotInstanceId, e.g. iot-06z00lab0001',
  version: 'the version the firmware installs, e.g. 2.0.0',
  'sign-method': 'MD5 or SHA256 (any case)',
  module: 'the name of the firmware\'s OTA module',
  name: 'a firmware name of 1 to 40 characters',
  'src-version': 'the version a delta package upgrades from',
  lab: 'the lab.json file that ota-lab start wrote',
  'close-after-bytes': 'a number of bytes, 0 or more',
  'close-times': 'a number of times, 1 or more',
  'bytes-per-sec': 'a number of bytes per second, 1 or more',
  'flip-byte-at': 'a byte offset, 0 or more',
  'flip-times': 'a number of times, 1 or more',
  'error-status': 'an HTTP error status from 400 to 599',
  'error-times': 'a number of times, 1 or more',
  'extra-bytes': 'a number of bytes from 1 to 1 GiB',
  size: 'a size such as 512KiB or 8MiB',
});

export async function runLabCli(argv: string[]): Promise<void> {
  await runCli('ota-lab', async () => {
    if (argv.length === 1 && argv[0] === '--version') {
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    let code = 0;
    await yargs(argv)
      .scriptName('ota-lab')
      .middleware(requireFlagValues('ota-lab', argv, LAB_EXPECTS), true)
      .usage('$0 <command>\n\nAn offline stand-in for Alibaba Cloud IoT Platform\'s OTA service: signed OpenAPI, MQTT broker with device auth, OTA job engine, firmware server with fault injection.\n`ota-lab --version` prints the version.')
      .command('start', 'run the lab until Ctrl-C and write its connection file', (y) => y
        .option('devices', { type: 'string', coerce: wholeNumber('devices', 0, LAB_DEVICES_MAX), default: LAB_DEFAULTS.deviceCount, describe: `how many test devices to create (bench-01, bench-02, …), 0-${LAB_DEVICES_MAX}` })
        .option('product-key', { type: 'string', default: LAB_DEFAULTS.productKey, describe: 'ProductKey of the lab\'s one product' })
        .option('state-dir', { type: 'string', describe: 'a directory that keeps products, devices, firmware, jobs and tasks across restarts' })
        .option('broker', { type: 'string', describe: 'an mqtt:// URL: use that external MQTT broker (e.g. mosquitto) instead of the embedded one' })
        .option('tls', { type: 'boolean', default: false, describe: 'MQTT over TLS and firmware over HTTPS, with a generated CA' })
        .option('connection-file', { type: 'string', default: 'lab.json', describe: 'the connection file to write' })
        .option('throttle', { choices: ['platform', 'off'], default: 'platform', describe: 'per-API QPS limits as on the platform, or none' })
        .option('api-port', { type: 'string', coerce: portNumber('api-port'), default: 0, describe: 'OpenAPI port on 127.0.0.1 (0: any free port)' })
        .option('mqtt-port', { type: 'string', coerce: portNumber('mqtt-port'), default: 0, describe: 'MQTT port on 127.0.0.1 (0: any free port)' })
        .option('file-port', { type: 'string', coerce: portNumber('file-port'), default: 0, describe: 'firmware file server port (0: any free port); 80 (or 443 with --tls) gives download URLs without a port, as the platform\'s are' })
        .option('file-host', { type: 'string', describe: 'host name written in download URLs (default: the listen address), for benches on other machines' })
        .option('sign-method-spelling', { choices: ['Md5', 'MD5', 'md5', 'SHA256', 'Sha256', 'sha256'], describe: 'how notices spell signMethod' })
        .option('id-type', { choices: ['number', 'string'], describe: 'the type of the notice id' })
        .option('instance-id', { type: 'string', describe: 'act as an enterprise instance with this IotInstanceId (e.g. iot-06z00lab0001): calls without it are refused' })
        .option('unfinished-filter', { choices: ['task-status', 'task-status-list'], default: LAB_DEFAULTS.unfinishedFilter, describe: 'ListOTAUnfinishedTaskByDevice takes TaskStatus (the SDK model), or only TaskStatusList.N' })
        .option('log-level', { choices: ['trace', 'debug', 'info', 'warn', 'error', 'silent'], default: 'info', describe: 'log level (on stderr)' })
        .option('log-format', { choices: ['json', 'pretty'], describe: 'log lines as JSON, or one human line each; default: pretty on a terminal, JSON otherwise' })
        .example('$0 start --devices 3', 'a lab with bench-01..bench-03; writes ./lab.json')
        .example('$0 start --state-dir .lab --broker mqtt://127.0.0.1:1883', 'persistent state, over a running mosquitto')
        .example('$0 start --file-port 80', 'download URLs without a port, like the platform\'s'),
      async (a) => {
        const { runStart } = await import('./commands/start-command.js');
        code = await runStart({ ...a, productKey: a['product-key'], stateDir: a['state-dir'], connectionFile: a['connection-file'], apiPort: a['api-port'], mqttPort: a['mqtt-port'], filePort: a['file-port'], fileHost: a['file-host'], logLevel: a['log-level'], logFormat: a['log-format'], signMethodSpelling: a['sign-method-spelling'], idType: a['id-type'], instanceId: a['instance-id'], unfinishedFilter: a['unfinished-filter'] });
      })
      .command('firmware', 'firmware add <file>: register a firmware with the running lab; firmware list: list them', (fy) => fy
        .command('add <file>', 'upload a firmware file to the running lab and register it; prints the FirmwareId', (y) => y
        .positional('file', { type: 'string', demandOption: true })
        .option('version', { type: 'string', demandOption: true, describe: 'the destination version the firmware installs' })
        .option('sign-method', { coerce: signMethod('sign-method'), default: 'SHA256', describe: 'the digest registered with the firmware: MD5 or SHA256 (any case)' })
        .option('module', { type: 'string', describe: 'the module name (default module when left out)' })
        .option('name', { type: 'string', describe: 'firmware name (unique, 1-40 characters)' })
        .option('src-version', { type: 'string', describe: 'a version: makes it a delta package from that version' })
        .option('verify', { type: 'boolean', default: true, describe: 'needs a verify job before batch upgrades (--no-verify: not)' })
        .option('lab', { type: 'string', default: 'lab.json', describe: 'the connection file of the running lab' })
        .option('json', { type: 'boolean', default: false, describe: 'print the FirmwareId, version, size and sign method as JSON' })
        .example('$0 firmware add build/fw-2.0.0.bin --version 2.0.0', 'prints the FirmwareId'),
      async (a) => {
        const { runFirmwareAdd } = await import('./commands/firmware-command.js');
        code = await runFirmwareAdd({ file: a.file, version: a.version, signMethod: a['sign-method'], module: a.module, name: a.name, srcVersion: a['src-version'], verify: a.verify, lab: a.lab, json: a.json });
      })
        .command('list', 'list the running lab\'s firmware (ListOTAFirmware through its signed API)', (y) => y
          .option('lab', { type: 'string', default: 'lab.json', describe: 'the connection file of the running lab' })
          .option('json', { type: 'boolean', default: false, describe: 'print one JSON document (schema ota-lab/firmware-list@1)' })
          .example('$0 firmware list --json', 'every firmware with its id, version, module and verification status'),
        async (a) => {
          const { runFirmwareList } = await import('./commands/firmware-command.js');
          code = await runFirmwareList({ lab: a.lab, json: a.json });
        })
        .demandCommand(1, 'firmware needs add FILE --version V, or list'),
      () => undefined)
      .command('fault <firmware-id>', 'inject faults into the download of one firmware', (y) => y
        .positional('firmware-id', { type: 'string', demandOption: true })
        .option('close-after-bytes', { type: 'string', coerce: wholeNumber('close-after-bytes', 0, Number.MAX_SAFE_INTEGER, 'a number of bytes, 0 or more'), describe: 'a byte count: cut the connection after that many bytes' })
        .option('close-times', { type: 'string', coerce: wholeNumber('close-times', 1, 1_000_000), describe: 'a count K: … only the first K times' })
        .option('bytes-per-sec', { type: 'string', coerce: wholeNumber('bytes-per-sec', 1, Number.MAX_SAFE_INTEGER, 'a whole number of bytes per second, 1 or more'), describe: 'bytes per second: limit the bandwidth to that' })
        .option('flip-byte-at', { type: 'string', coerce: wholeNumber('flip-byte-at', 0, Number.MAX_SAFE_INTEGER, 'a byte offset, 0 or more'), describe: 'a byte offset: corrupt the byte there' })
        .option('flip-times', { type: 'string', coerce: wholeNumber('flip-times', 1, 1_000_000), describe: 'a count K: … only the first K times' })
        .option('error-status', { type: 'string', coerce: wholeNumber('error-status', 400, 599, 'an HTTP error status from 400 to 599'), describe: 'an HTTP status to answer (404, 500, …)' })
        .option('error-times', { type: 'string', coerce: wholeNumber('error-times', 1, 1_000_000), describe: 'a count K: … only the first K times' })
        .option('extra-bytes', { type: 'string', coerce: wholeNumber('extra-bytes', 1, 1024 ** 3, 'a number of bytes from 1 to 1 GiB'), describe: 'a byte count: send that many bytes more than the firmware has' })
        .option('clear', { type: 'boolean', default: false, describe: 'remove every fault of this firmware' })
        .option('lab', { type: 'string', default: 'lab.json', describe: 'the connection file of the running lab' })
        .example('$0 fault fw000004 --close-after-bytes 1000000 --close-times 1', 'drop the first download at 1 MB'),
      async (a) => {
        const { runFault } = await import('./commands/fault-command.js');
        code = await runFault({ firmwareId: a['firmware-id'], lab: a.lab, clear: a.clear, closeAfterBytes: a['close-after-bytes'], closeTimes: a['close-times'], bytesPerSec: a['bytes-per-sec'], flipByteAt: a['flip-byte-at'], flipTimes: a['flip-times'], errorStatus: a['error-status'], errorTimes: a['error-times'], extraBytes: a['extra-bytes'] });
      })
      .command('demo', 'the whole system in one command: lab, N bench agents, ota-verify with its live view', (y) => y
        .option('devices', { type: 'string', coerce: wholeNumber('devices', 1, 10), default: 5, describe: 'how many benches, 1-10' })
        .option('size', { type: 'string', default: '8MiB', describe: 'firmware size, e.g. 512KiB, 8MiB' })
        .option('fail', { choices: ['digest', 'download', 'install', 'offline', 'health', 'rollback'] as const, describe: 'make one bench fail this way' })
        .option('keep', { type: 'boolean', default: false, describe: 'keep the demo\'s temp folder (lab state, agent logs, JUnit report) instead of removing it on exit' })
        .example('$0 demo', 'five benches verify an 8 MiB firmware')
        .example('$0 demo --devices 3 --fail install', 'one bench\'s install hook fails: exit 1')
        .example('$0 demo --devices 3 --fail health', 'one bench\'s self-test fails after the version read-back; it rolls back'),
      async (a) => {
        const { runDemo, parseSize } = await import('./commands/demo-command.js');
        code = await runDemo({ devices: a.devices, sizeBytes: parseSize(a.size), keep: a.keep, ...(a.fail ? { fail: a.fail } : {}) });
      })
      .demandCommand(1, 'say which command: start, firmware add, firmware list, fault, demo')
      .strict()
      .fail(usageFailure('ota-lab', argv, { commands: ['start', 'firmware', 'fault', 'demo'], positionals: { firmware: "'add FILE --version V'", fault: 'a FIRMWARE_ID' }, subcommands: { firmware: ['add', 'list'] } }))
      .help()
      // `firmware add --version V` is the firmware's version, so yargs' own --version stays off; see above.
      .version(false)
      .parseAsync();
    return code;
  }, exitCodeOf);
}
