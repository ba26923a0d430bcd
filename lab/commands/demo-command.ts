// `ota-lab demo`: the whole system in one command. The lab runs here; agents and ota-verify run as
// separate processes (their built CLIs), exactly as a user would run them. --fail makes one bench
// fail in a chosen way so the failure path is visible too.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../shared/cli-support.js';
import { OtaError, errorMessage } from '../../shared/errors.js';
import { writeLabConnection } from '../../shared/lab-connection.js';
import { connectAppSubscriber, type AppSubscriber } from '../../shared/app-subscriber.js';
import type { AppMessage } from '../../shared/app-subscription.js';
import { labApiCall } from './lab-api.js';
import { LIMITS } from '../../shared/platform-rules.js';
import { startLab, type Lab } from '../start-lab.js';
import { rollbackSettled, showBenchAfterRollback } from './demo-rollback.js';

export const FAIL_KINDS = ['digest', 'download', 'install', 'offline', 'health', 'rollback'] as const;
export type FailKind = (typeof FAIL_KINDS)[number];

export interface DemoArgs {
  devices: number;
  sizeBytes: number;
  fail?: FailKind;
  /** Keep the demo's folder (lab state, logs, JUnit) instead of removing it on exit. */
  keep?: boolean;
}

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const AGENT_CLI = join(DIST, 'agent', 'cli.js');
const VERIFY_CLI = join(DIST, 'orchestrator', 'cli.js');

/** The demo makes its firmware in memory (and the lab keeps a copy): 1 GiB is what a laptop holds
 *  comfortably, and stays under Node's 2 GiB buffer limit. */
// The demo uploads its file as a user would: the platform takes up to 1,000 MB.
export const DEMO_SIZE_MAX_BYTES = LIMITS.firmwareSizeMaxBytes;

const SIZE_UNITS: Readonly<Record<string, number>> = Object.freeze({
  B: 1, K: 1024, KIB: 1024, KB: 1000, M: 1024 ** 2, MIB: 1024 ** 2, MB: 1000 ** 2, G: 1024 ** 3, GIB: 1024 ** 3, GB: 1000 ** 3,
});

/** `--size`: a number with an optional unit, binary (KiB, MiB, GiB; K, M, G) or decimal (KB, MB, GB), any case. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const factor = m ? SIZE_UNITS[(m[2] || 'B').toUpperCase()] : undefined;
  if (!m || factor === undefined) throw new UsageError(`--size ${text} is not a size: expected a number with an optional unit, e.g. 512KiB, 64MiB, 64MB, 1GiB`);
  const bytes = Math.round(Number(m[1]) * factor);
  if (bytes < 1 || bytes > DEMO_SIZE_MAX_BYTES) throw new UsageError(`--size ${text} is out of range: expected 1 byte to 1000MiB (the platform's upload limit)`);
  return bytes;
}

/** The next forwarded message `fn` accepts: the demo watches the lab as an application would. */
function nextMessage(app: AppSubscriber, fn: (m: AppMessage) => boolean): Promise<AppMessage> {
  return new Promise((resolve) => {
    const off = app.on((m) => { if (fn(m)) { off(); resolve(m); } });
  });
}

export async function runDemo(a: DemoArgs): Promise<number> {
  if (!Number.isInteger(a.devices) || a.devices < 1 || a.devices > 10) throw new OtaError('USAGE', `--devices ${a.devices}`, { expected: '1 to 10 benches (a verify job takes at most 10)' });
  const dir = await mkdtemp(join(tmpdir(), 'ota-demo-'));
  const labFile = join(dir, 'lab.json');
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const children: ChildProcess[] = [];
  let interrupted = false;
  const onSignal = () => { interrupted = true; for (const c of children) c.kill('SIGTERM'); };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let started: Lab | undefined;
  let app: AppSubscriber | undefined;
  try {
    const lab = await startLab({ deviceCount: a.devices, connectionFile: labFile, stateDir: join(dir, 'lab-state') });
    started = lab;
    // The demo's live view reads the lab's server-side subscription, as an application would.
    const c = lab.connection;
    const watcher = await connectAppSubscriber({ mqttUrl: c.mqttUrl, accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, ...(c.caFile ? { caFile: c.caFile } : {}) });
    app = watcher;
    // The lab lives only as long as the demo: ota-verify then prints no re-attach hint that would outlive it.
    await writeLabConnection(labFile, { ...lab.connection, ephemeral: true });
    say(`ota-lab demo: lab at ${lab.connection.apiEndpoint}, MQTT ${lab.connection.mqttUrl}; files in ${dir}`);
    // 1. A firmware file, as a build leaves it; ota-verify uploads and registers it below.
    const firmwareFile = join(dir, 'demo-firmware.bin');
    await pipeline(Readable.from(randomChunks(a.sizeBytes)), createWriteStream(firmwareFile));
    say(`built ${firmwareFile}: ${(a.sizeBytes / 1024 / 1024).toFixed(1)} MiB, to become version 2.0.0`);
    // The injected faults belong to the firmware, which ota-verify registers later: the lab binds the
    // plan to the first firmware downloaded from now on, before its first byte leaves.
    const faultOnce = (plan: NonNullable<Parameters<Lab['setFault']>[1]>) => {
      try {
        lab.setFaultOnNextFirmware(plan);
      } catch (err) {
        say(`could not inject the fault: ${errorMessage(err)}`);
      }
    };
    if (a.fail === 'digest') faultOnce({ flipByteAt: Math.floor(a.sizeBytes / 2), flipTimes: 1 });
    if (a.fail === 'download') faultOnce({ errorStatus: 404, errorTimes: 1 });

    // 2. The benches, one agent process each, logs in the demo folder.
    const names = lab.connection.devices.map((d) => d.deviceName);
    const victim = names[names.length - 1] as string;
    for (const name of names) {
      const args = ['run', '--lab', labFile, '--device', name, '--work-dir', join(dir, name)];
      if (a.fail === 'install' && name === victim) args.push('--install-command', 'echo "writing flash" ; echo "flash write failed: bad block at 0x3f000" >&2; exit 1');
      // The simulated self-test fails after the version read-back (and, for rollback, the rollback too).
      if ((a.fail === 'health' || a.fail === 'rollback') && name === victim) args.push('--simulate-fail', a.fail);
      const child = spawn(process.execPath, [AGENT_CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr?.pipe(createWriteStream(join(dir, `${name}.log`)));
      children.push(child);
    }
    say(`started ${names.length} bench agents (simulated install); logs: ${join(dir, '<bench>.log')}`);
    await Promise.all(names.map((n) => new Promise<void>((resolve) => {
      const online = () => lab.store.state.devices.find((d) => d.deviceName === n)?.status === 'ONLINE';
      if (online()) return resolve();
      void nextMessage(watcher, (m) => m.kind === 'status' && m.deviceName === n && m.body.status === 'online').then(() => resolve());
    })));
    if (a.fail === 'offline') {
      // The bench drops off mid-download and never comes back; the task times out 1 minute after its first progress.
      void nextMessage(watcher, (m) => m.kind === 'progress' && m.deviceName === victim && m.body.taskId !== undefined && m.body.step >= 0).then(() => {
        children[names.indexOf(victim)]?.kill('SIGKILL');
        say(`${victim} went offline mid-download (its task will time out after 1 minute)`);
      });
      faultOnce({ bytesPerSec: Math.max(1, Math.floor(a.sizeBytes / 4)) });
    }

    const settled = a.fail === 'health' || a.fail === 'rollback' ? rollbackSettled(children[names.indexOf(victim)] as ChildProcess) : undefined;

    // 3. ota-verify, with its live view, as a user runs it: from the file to the verdict in one command.
    const verifyArgs = ['verify', '--lab', labFile, '--file', firmwareFile, '--version', '2.0.0', '--devices', names.join(','), '--junit', join(dir, 'junit.xml'), '--poll-min-ms', '500', ...(a.fail === 'offline' ? ['--timeout-minutes', '1'] : [])];
    say(`$ ota-verify ${verifyArgs.join(' ')}`);
    const verify = spawn(process.execPath, [VERIFY_CLI, ...verifyArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(verify);
    const code = await new Promise<number>((resolve) => verify.on('close', (c) => resolve(c ?? 4)));
    if (settled) {
      await settled;
      const call = labApiCall(lab.connection, labFile);
      await showBenchAfterRollback({ call, productKey: lab.connection.productKey, bench: victim, agentCli: AGENT_CLI, say, statusArgs: ['status', '--lab', labFile, '--device', victim, '--work-dir', join(dir, victim)] });
    }
    say(`\nota-verify exited ${code}: ${({ 0: 'firmware verified', 1: 'verification failed', 4: 'stopped before the end' } as Record<number, string>)[code] ?? 'error'}`);
    if (a.keep) {
      say(`agent logs: ${names.map((n) => join(dir, `${n}.log`)).join(' ')}`);
      say(`JUnit report: ${join(dir, 'junit.xml')}`);
    }
    return interrupted ? 130 : code;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('close', r)) : Promise.resolve())));
    await app?.close();
    await started?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // The folder holds the firmware, every bench's download and the lab's state (385 MB for 64 MiB).
    if (a.keep) say(`kept ${dir}`);
    else {
      await rm(dir, { recursive: true, force: true });
      say(`removed ${dir} (--keep keeps it: lab state, agent logs, JUnit report)`);
    }
  }
}

/** Random bytes in 1 MiB pieces, so a large demo firmware is never held whole. */
function* randomChunks(total: number): Generator<Buffer> {
  for (let left = total; left > 0; left -= 1024 * 1024) yield randomBytes(Math.min(left, 1024 * 1024));
}
