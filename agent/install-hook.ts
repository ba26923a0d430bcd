// The install hook: a shell command run with the file path(s) as arguments and the notice's facts in
// environment variables. Lines `progress N` on stdout report install progress. Non-zero exit or a
// timeout is an install failure (step -4) carrying the hook's last stderr line, scrubbed of secrets.
// Neither the hook nor the version command sees the device secret (runBenchCommand).
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError, quote } from '../shared/errors.js';
import { VERSION_RULE } from '../shared/platform-rules.js';
import { runBenchCommand, whyFailed } from './process-group.js';

export interface InstallFacts {
  version: string;
  module: string;
  size: number;
  sign: string;
  signMethod: string;
  extData: Record<string, unknown>;
  files: string[];
  workDir: string;
}

export function hookEnv(f: InstallFacts): Record<string, string> {
  return {
    OTA_VERSION: f.version, OTA_MODULE: f.module, OTA_SIZE: String(f.size), OTA_SIGN: f.sign, OTA_SIGN_METHOD: f.signMethod,
    OTA_EXT_DATA: JSON.stringify(f.extData), OTA_FILE: f.files[0] ?? '', OTA_FILES: f.files.join('\n'), OTA_WORK_DIR: f.workDir,
  };
}

export interface HookOptions {
  timeoutSec: number;
  /** Between SIGTERM and SIGKILL to the hook's process group when it is stopped (default KILL_GRACE_MS). */
  killGraceMs?: number;
  signal: AbortSignal;
  onProgress: (pct: number) => void;
  /** Secret values: kept out of the hook's environment and scrubbed from what it says. */
  secrets: readonly string[];
}

export async function runInstallHook(command: string, facts: InstallFacts, o: HookOptions): Promise<void> {
  const r = await runBenchCommand(command, { name: 'ota-install', args: facts.files, env: hookEnv(facts), ...o });
  const lastErr = r.lastErrLine ? `: ${r.lastErrLine}` : '';
  if (r.spawnError) throw new OtaError('INSTALL_FAILED', `install hook could not start: ${r.spawnError.message}`, { cause: r.spawnError });
  if (r.aborted || o.signal.aborted) throw new OtaError('CANCELLED', 'install cancelled');
  const why = whyFailed(r, o.timeoutSec);
  if (why) throw new OtaError('INSTALL_FAILED', `install hook ${why}${lastErr}`);
}

/** `--simulate-install`: keep the firmware in the work directory as the "installed" image. */
export async function simulateInstall(facts: InstallFacts, onProgress: (pct: number) => void): Promise<void> {
  const dir = join(facts.workDir, 'installed', facts.module);
  await mkdir(dir, { recursive: true });
  for (const [i, f] of facts.files.entries()) {
    await copyFile(f, join(dir, `file-${i}.bin`));
    onProgress(Math.round(((i + 1) * 100) / facts.files.length));
  }
}

/** The version command's output beyond this is refused: a version is one short line. */
const VERSION_OUTPUT_MAX_BYTES = 64 * 1024;

export interface VersionOptions {
  timeoutSec: number;
  killGraceMs?: number;
  secrets: readonly string[];
  signal?: AbortSignal;
}

/** Read a module's version with its version command (last line of stdout, checked against the version rule). */
export async function readVersion(command: string, o: VersionOptions): Promise<string> {
  const r = await runBenchCommand(command, {
    name: 'ota-version', timeoutSec: o.timeoutSec, secrets: o.secrets, keepStdoutBytes: VERSION_OUTPUT_MAX_BYTES,
    ...(o.killGraceMs !== undefined ? { killGraceMs: o.killGraceMs } : {}), ...(o.signal ? { signal: o.signal } : {}),
  });
  const expected = 'the version on the last line of stdout';
  const why = r.spawnError ? `could not start: ${r.spawnError.message}`
    : r.aborted ? 'was stopped (the agent is closing)'
      : r.timedOut ? `timed out after ${o.timeoutSec} s`
        : r.overflow ? `printed more than ${VERSION_OUTPUT_MAX_BYTES} bytes`
          : r.code !== 0 ? `exited ${r.code ?? r.exitSignal}${r.lastErrLine ? `: ${r.lastErrLine}` : ''}`
            : undefined;
  if (why) throw new OtaError('VERSION_UNREADABLE', `version command ${why}`, { expected });
  const version = r.stdout.trim().split('\n').pop()?.trim() ?? '';
  if (!version) throw new OtaError('VERSION_UNREADABLE', 'version command printed nothing', { expected });
  if (!VERSION_RULE.pattern.test(version)) {
    throw new OtaError('VERSION_UNREADABLE', `version command printed ${quote(version, 40)}, not a version`, { expected: `${expected}: ${VERSION_RULE.describe}` });
  }
  return version;
}
