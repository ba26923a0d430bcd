// The install hook: a shell command run with the file path(s) as arguments and the notice's facts in
// environment variables. Lines `progress N` on stdout report install progress. Non-zero exit or a
// timeout is an install failure (step -4) carrying the hook's last stderr line.
import { spawn } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../shared/errors.js';
import { runHook } from './hook-runner.js';

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

export async function runInstallHook(command: string, facts: InstallFacts, o: { timeoutSec: number; signal: AbortSignal; onProgress: (pct: number) => void }): Promise<void> {
  const run = await runHook(command, { name: 'ota-install', args: facts.files, env: hookEnv(facts), timeoutSec: o.timeoutSec, signal: o.signal, onProgress: o.onProgress });
  const lastErr = run.lastErrLine;
  if (o.signal.aborted) throw new OtaError('CANCELLED', 'install cancelled');
  if (run.timedOut) throw new OtaError('INSTALL_FAILED', `install hook timed out after ${o.timeoutSec} s${lastErr ? `: ${lastErr}` : ''}`);
  if (run.code !== 0) throw new OtaError('INSTALL_FAILED', `install hook exited ${run.code}${lastErr ? `: ${lastErr}` : ''}`);
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

/** Read a module's version with its version command. */
export async function readVersion(command: string, timeoutSec = 30): Promise<string> {
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSec * 1000);
  const code = await new Promise<number | null>((resolve, reject) => { child.on('error', reject); child.on('close', resolve); }).finally(() => clearTimeout(timer));
  const version = out.trim().split('\n').pop()?.trim() ?? '';
  if (code !== 0 || !version) throw new OtaError('VERSION_UNREADABLE', `version command exited ${code}${version ? '' : ' and printed nothing'}`, { expected: 'the version on the last line of stdout' });
  return version;
}
