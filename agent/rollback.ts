// Putting the bench back after a failed install, version read-back or self-test: report the failure,
// run the module's rollbackCommand (the install hook's environment plus OTA_FAILED_STEP and
// OTA_PREVIOUS_VERSION), read the version back and inform it, so the platform shows the bench on its
// previous version. The state is persisted before the command runs: a power cut runs it again, which
// is why a rollback command must be idempotent.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import { installFactsOf } from './flow-facts.js';
import { failureDesc, moduleConfigOf } from './health-check.js';
import { hookEnv } from './install-hook.js';
import { runBenchCommand, whyFailed } from './process-group.js';
import type { FlowContext } from './upgrade-flow.js';
import { moveUpgrade, type UpgradeRecord, type UpgradeState } from './upgrade-state.js';

/** The phase of each state a rollback can follow; OTA_FAILED_STEP carries it. */
const PHASE_OF: Readonly<Partial<Record<UpgradeState, NonNullable<UpgradeRecord['failedPhase']>>>> = { installing: 'install', reporting: 'version', 'self-testing': 'self-test' };

/** Whether a failure in this state puts the previous firmware back (a rollback command, or the lab's simulated one). */
export function canRollBack(c: FlowContext): boolean {
  return PHASE_OF[c.rec.state] !== undefined && (Boolean(moduleConfigOf(c.config, c.rec.module)?.rollbackCommand) || c.config.simulateInstall);
}

/** Record the failure and enter rolling-back (persisted): from here a restart runs the rollback. */
export async function beginRollback(c: FlowContext, err: unknown, step: number): Promise<void> {
  c.rec.failedPhase = PHASE_OF[c.rec.state];
  c.rec.failure = errorMessage(err);
  c.rec.failedStep = step;
  moveUpgrade(c.rec, 'rolling-back');
  await c.store.save();
  c.log.warn({ module: c.rec.module, version: c.rec.version, phase: c.rec.failedPhase, err: c.rec.failure }, 'upgrade failed; rolling back');
}

/** The rolling-back step: ends in failed (back on the previous version) or needs-recovery. */
export async function rollBack(c: FlowContext): Promise<UpgradeState> {
  const { rec } = c;
  // Said first, and again after a restart: the platform fails the task on the negative step, and a
  // repeat for a task already failed changes nothing.
  await c.fail(rec.failedStep ?? -4, rec.failure ?? 'upgrade failed');
  const m = moduleConfigOf(c.config, rec.module);
  let problem: string | undefined;
  if (m?.rollbackCommand) {
    const r = await runBenchCommand(m.rollbackCommand, {
      name: 'ota-rollback', args: rec.files.map((f) => f.partPath), timeoutSec: m.rollbackTimeoutSec, signal: c.signal, secrets: [c.config.deviceSecret],
      env: { ...hookEnv(installFactsOf(rec, c.store.dir)), OTA_FAILED_STEP: rec.failedPhase ?? 'install', OTA_PREVIOUS_VERSION: rec.previousVersion ?? '' },
    });
    if (c.signal.aborted) return rec.state;
    const why = whyFailed(r, m.rollbackTimeoutSec);
    if (why) problem = `rollback command ${why}${r.lastLine && !r.timedOut ? `: ${failureDesc('', r.lastLine, [c.config.deviceSecret])}` : ''}`;
  } else if (c.config.simulateFailure === 'rollback') {
    problem = 'rollback failed: flash is write-protected (simulated)';
  } else {
    await rm(join(c.store.dir, 'installed', rec.module), { recursive: true, force: true });
  }
  // Without a version command the command's success is the word that the previous version runs again.
  if (!problem && !m?.versionCommand && typeof rec.previousVersion === 'string') c.store.state.versions[rec.module] = rec.previousVersion;
  const now = problem && !m?.versionCommand ? undefined : await c.currentVersion(rec.module).catch((err: unknown) => {
    problem ??= `version unreadable after the rollback: ${errorMessage(err)}`;
    return undefined;
  });
  if (now !== undefined && now === rec.version) {
    // Never the destination version after a failure: the platform would take it as success.
    problem ??= `the bench still runs ${now} after the rollback`;
  } else if (now !== undefined) {
    await c.inform(rec.module, now);
    if (!problem && typeof rec.previousVersion === 'string' && now !== rec.previousVersion) problem = `the bench runs ${now} after the rollback, expected ${rec.previousVersion}`;
  }
  const to: UpgradeState = problem ? 'needs-recovery' : 'failed';
  if (problem) {
    rec.failure = `${rec.failure ?? 'upgrade failed'}; ${problem}`;
    c.log.error({ module: rec.module, version: rec.version, informed: now ?? null, err: problem }, 'rollback failed: the bench needs recovery (recoverCommand at the next start, or ota-agent reset)');
  } else {
    c.log.info({ module: rec.module, version: now }, 'rolled back');
  }
  return to;
}
