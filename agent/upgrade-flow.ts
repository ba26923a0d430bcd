// The upgrade as a list of named steps over one context: download → verify → install → confirm.
// Each step moves the record's state through the table and persists it before the next, so a
// restart enters the flow at the step it was in. Failures map to the platform's step codes.
import { rm, stat } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { sleepOn, type Clock } from '../shared/clock.js';
import { OtaError, errorMessage, isOtaError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AgentConfig } from './agent-config.js';
import { downloadFile } from './download.js';
import { ensureFreeSpace } from './part-file.js';
import type { Fetcher } from './fetcher.js';
import { installFactsOf } from './flow-facts.js';
import { hasSelfTest, runSelfTest } from './health-check.js';
import { runInstallHook, simulateInstall, type InstallFacts } from './install-hook.js';
import type { ProgressReporter } from './progress-reporter.js';
import { beginRollback, canRollBack, rollBack } from './rollback.js';
import { isFinal, moveUpgrade, type AgentStore, type UpgradeRecord, type UpgradeState } from './upgrade-state.js';
import { digestOnDisk, fileGone, signatureFor, type CheckedDigester, type FirmwareDigester, type SignatureCheck } from './verify.js';
import { createDigester } from './worker-digester.js';

/** Shares of the 0–100 progress: the download dominates, install gets what the hook reports. */
const DOWNLOAD_SHARE = 80;
const VERIFIED_AT = 85;
const INSTALL_SHARE = 14;

export interface FlowContext {
  rec: UpgradeRecord;
  config: AgentConfig;
  store: AgentStore;
  fetcher: Fetcher;
  clock: Clock;
  log: Logger;
  publicKey: KeyObject | undefined;
  signal: AbortSignal;
  progress: ProgressReporter;
  /** Inform the platform of a module's version (QoS 1). */
  inform: (module: string, version: string) => Promise<void>;
  /** The module's version as the device reports it now. */
  currentVersion: (module: string) => Promise<string>;
  /** Report a failure (negative step) for this upgrade's module. */
  fail: (step: number, desc: string) => Promise<void>;
  /** Digesters of the download, kept for the verify step when both run in this process. */
  digesters?: CheckedDigester[];
  /** Set by the verify step: a flow resumed at `installing` has not checked the files yet. */
  verified?: boolean;
}

/** The abort reason that means "a newer notice replaced this upgrade" (any other abort is a stop). */
export const REPLACED = 'replaced by a newer notice';

/** How a flow ended. `stopped`: aborted for shutdown, the record stays where it was for the next start. */
export type FlowOutcome =
  | { kind: 'done' }
  /** `reported`: a rollback already sent the failure step to the platform. */
  | { kind: 'failed'; step: number; reason: string; reported: boolean }
  | { kind: 'cancelled' }
  | { kind: 'stopped' };

type Step = (c: FlowContext) => Promise<void>;

async function enter(c: FlowContext, to: UpgradeState): Promise<void> {
  moveUpgrade(c.rec, to);
  try {
    await c.store.save();
  } catch (err) {
    throw new OtaError('STATE_SAVE_FAILED', `cannot save the upgrade state: ${errorMessage(err)}`, { cause: err });
  }
  c.log.info({ module: c.rec.module, version: c.rec.version, state: to }, `upgrade ${to}`);
}

export const download: Step = async (c) => {
  // A fresh download says 0 at once, as the SDK does; a resumed one says where it is (never back to 0).
  const resumed = await stat(c.rec.files[0]?.partPath ?? '').then((s) => s.size > 0, () => false);
  if (!resumed) c.progress.report(0, 'downloading', true);
  const total = c.rec.files.reduce((n, f) => n + f.size, 0);
  const onDisk = await Promise.all(c.rec.files.map((f) => stat(f.partPath).then((s) => Math.min(s.size, f.size), () => 0)));
  await ensureFreeSpace(c.store.dir, total - onDisk.reduce((a, b) => a + b, 0));
  // When the download began and how many attempts failed survive a restart: a server that never
  // delivers cannot keep an agent that restarts busy forever.
  const attempts = (c.rec.download ??= { startedAtMs: c.clock.now(), failedAttempts: 0 });
  const persist = () => c.store.save().catch((err: unknown) => c.log.warn({ err: errorMessage(err) }, 'cannot save the download attempt count'));
  await persist();
  const limits = {
    retries: c.config.downloadRetries, backoffBaseMs: c.config.backoffBaseMs, backoffMaxMs: c.config.backoffMaxMs, timeoutMs: c.config.downloadTimeoutMs,
    deadlineAtMs: attempts.startedAtMs + c.config.downloadDeadlineSec * 1000, deadlineSec: c.config.downloadDeadlineSec,
    minBytesPerSec: c.config.downloadMinBytesPerSec, rateWindowMs: c.config.downloadMinRateWindowSec * 1000,
  };
  let before = 0;
  c.digesters = [];
  for (const f of c.rec.files) {
    const done = before;
    const result = await downloadFile({
      url: f.url, size: f.size, partPath: f.partPath, fetcher: c.fetcher,
      newDigester: () => createDigester({ partPath: f.partPath, sizeBytes: f.size, signMethod: c.rec.signMethod, signature: signatureCheck(c, f.name), log: c.log }),
      limits, attempts, onAttemptFailed: persist, clock: c.clock, log: c.log, signal: c.signal, sleep: (ms) => sleepOn(c.clock, ms, c.signal),
      onBytes: (n) => c.progress.report(((done + n) / total) * DOWNLOAD_SHARE, 'downloading'),
    });
    c.digesters.push(result.digester);
    c.log.info({ file: f.name, size: f.size, fetchedBytes: result.fetchedBytes }, 'downloaded');
    before += f.size;
  }
  await enter(c, 'verifying');
};

export const verify: Step = async (c) => {
  await checkFiles(c);
  c.progress.report(VERIFIED_AT, 'verified');
  await enter(c, 'installing');
};

/** Digest (and signature) of every file; a file that fails is deleted so it can never be installed. */
async function checkFiles(c: FlowContext): Promise<void> {
  try {
    for (const [i, f] of c.rec.files.entries()) {
      // After a restart the digest is rebuilt from the file on disk.
      const digester = c.digesters?.[i] ?? await rehash(c, f.partPath, f.name);
      await digester.check(f.sign);
      await stillWhole(f.partPath, f.size);
    }
  } catch (err) {
    // A file that failed its check must never be installed later by mistake.
    await Promise.all(c.rec.files.map((f) => rm(f.partPath, { force: true })));
    throw err;
  }
  c.verified = true;
}

export const install: Step = async (c) => {
  // Resumed at this step after a restart: the files on disk may have changed since they were
  // checked, and the hook must only ever see verified bytes.
  if (!c.verified) await checkFiles(c);
  const facts: InstallFacts = installFactsOf(c.rec, c.store.dir);
  // What a rollback goes back to, kept before the hook runs (a restart mid-install must not take the new version for it).
  if (c.rec.previousVersion === undefined) {
    c.rec.previousVersion = await c.currentVersion(c.rec.module).catch(() => null);
    await c.store.save();
  }
  const onProgress = (pct: number) => c.progress.report(VERIFIED_AT + (pct / 100) * INSTALL_SHARE, 'installing');
  if (c.config.installCommand) await runInstallHook(c.config.installCommand, facts, { timeoutSec: c.config.installTimeoutSec, signal: c.signal, onProgress, secrets: [c.config.deviceSecret] });
  else await simulateInstall(facts, onProgress);
  // Without a version command the hook's success is the word that the destination version runs now.
  c.store.state.versions[c.rec.module] = c.rec.version;
  await enter(c, 'reporting');
};

export const confirm: Step = async (c) => {
  const now = await c.currentVersion(c.rec.module);
  if (now !== c.rec.version) throw new OtaError('VERSION_MISMATCH', `version read back is ${now}, expected ${c.rec.version}`, { expected: c.rec.version, found: now });
  if (hasSelfTest(c.config, c.rec.module)) {
    await enter(c, 'self-testing');
    return;
  }
  await succeed(c, now);
};

/** The soak after the version read-back; only a passed self-test informs the destination version. */
export const selfTest: Step = async (c) => {
  await runSelfTest(c);
  await succeed(c, c.rec.version);
};

const rollingBack: Step = async (c) => {
  const to = await rollBack(c);
  if (to !== c.rec.state) await enter(c, to);
};

async function succeed(c: FlowContext, now: string): Promise<void> {
  c.progress.report(100, 'installed', true);
  // Only the inform of the destination version makes the platform's task succeed.
  await c.inform(c.rec.module, now);
  await enter(c, 'done');
  await Promise.all(c.rec.files.map((f) => rm(f.partPath, { force: true })));
}

const STEPS: Readonly<Record<'downloading' | 'verifying' | 'installing' | 'reporting' | 'self-testing' | 'rolling-back', Step>> = {
  downloading: download, verifying: verify, installing: install, reporting: confirm, 'self-testing': selfTest, 'rolling-back': rollingBack,
};

/** The step code of the state an error happened in, for errors that belong to no one step. */
const STEP_OF_STATE: Readonly<Partial<Record<UpgradeState, number>>> = { downloading: -2, verifying: -3, installing: -4, reporting: -4, 'self-testing': -4 };

/** The platform's failure step for an error: -2 download, -3 verify, -4 install/confirm, -1 otherwise. */
export function failureStep(err: unknown, during?: UpgradeState): number {
  if (isOtaError(err, 'DOWNLOAD_FAILED')) return -2;
  if (isOtaError(err, 'VERIFY_FAILED')) return -3;
  if (isOtaError(err, 'INSTALL_FAILED') || isOtaError(err, 'VERSION_MISMATCH') || isOtaError(err, 'VERSION_UNREADABLE') || isOtaError(err, 'SELF_TEST_FAILED')) return -4;
  if (isOtaError(err, 'STATE_SAVE_FAILED') && during) return STEP_OF_STATE[during] ?? -1;
  return -1;
}

/** Run from the record's current state to its end. Never rejects: failure and cancel are moves in the
 *  table, persisted like the others (a save that fails then is logged, the outcome still returned).
 *  A failure after the install started puts the previous firmware back where the bench can
 *  (rolling-back, which itself ends in failed or needs-recovery and reports the failure). */
export async function runFlow(c: FlowContext): Promise<FlowOutcome> {
  try {
    return await runSteps(c);
  } finally {
    // Digests not checked (the flow failed or stopped before the verify step) let go of their workers.
    for (const d of c.digesters ?? []) d.close();
    c.digesters = undefined;
  }
}

async function runSteps(c: FlowContext): Promise<FlowOutcome> {
  let during = c.rec.state;
  try {
    for (;;) {
      during = c.rec.state;
      if (c.rec.state === 'done') return { kind: 'done' };
      if (c.rec.state === 'cancelled') return { kind: 'cancelled' };
      // Ended by a rollback (or found so at start): the rollback step reported it already.
      if (c.rec.state === 'failed' || c.rec.state === 'needs-recovery') {
        return { kind: 'failed', step: c.rec.failedStep ?? -1, reason: c.rec.failure ?? `upgrade is ${c.rec.state}`, reported: true };
      }
      if (c.signal.aborted) throw new OtaError('CANCELLED', 'upgrade stopped');
      try {
        await STEPS[c.rec.state](c);
      } catch (err) {
        if (isOtaError(err, 'CANCELLED') || c.signal.aborted || !canRollBack(c)) throw err;
        await beginRollback(c, err, failureStep(err, during));
      }
    }
  } catch (err) {
    if (c.signal.aborted) {
      if (c.signal.reason !== REPLACED) return { kind: 'stopped' };
      await end(c, 'cancelled', REPLACED);
      return { kind: 'cancelled' };
    }
    const reason = errorMessage(err);
    await end(c, 'failed', reason);
    return { kind: 'failed', step: failureStep(err, during), reason, reported: false };
  }
}

async function end(c: FlowContext, to: 'failed' | 'cancelled', reason: string): Promise<void> {
  try {
    if (!isFinal(c.rec.state)) moveUpgrade(c.rec, to);
    c.rec.failure = reason;
    await c.store.save();
  } catch (err) {
    // Disk full or read-only by now: the outcome is still reported; the next start sees the last saved state.
    c.log.warn({ module: c.rec.module, version: c.rec.version, err: errorMessage(err) }, `cannot save the ${to} upgrade state`);
  }
}

function signatureCheck(c: FlowContext, fileName: string): SignatureCheck | undefined {
  return c.publicKey ? { publicKey: c.publicKey, signatureB64: signatureFor(c.rec.extData, c.config.signatureKey, fileName) } : undefined;
}

/** The digest covers the bytes that were read, possibly long before the check (a worker reads behind
 *  the writes): a part file cut short since then would go to the install hook unverified. */
async function stillWhole(path: string, sizeBytes: number): Promise<void> {
  const { size } = await stat(path).catch((err: unknown) => { throw fileGone(err); });
  if (size !== sizeBytes) {
    throw new OtaError('VERIFY_FAILED', `downloaded file changed after its check: it holds ${size} bytes, expected ${sizeBytes}`, { expected: `${sizeBytes} bytes`, found: String(size) });
  }
}

function rehash(c: FlowContext, path: string, fileName: string): Promise<FirmwareDigester> {
  // In this thread: after a restart only, and the hash is all this step does.
  return digestOnDisk(path, c.rec.signMethod, signatureCheck(c, fileName));
}
