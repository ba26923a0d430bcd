// A bench whose rollback failed is in a state nobody knows: it takes no new upgrade ("bench needs
// recovery", step -1) until its recoverCommand succeeds at an agent start or an operator clears it
// with `ota-agent reset --module M`. The reset is a request file the agent consumes (at its start or
// at the next notice for the module), so it works whether or not an agent is running, and a running
// agent's own state writes cannot undo it.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../shared/logger.js';
import type { AgentConfig } from './agent-config.js';
import { moduleConfigOf } from './health-check.js';
import { runBenchCommand, whyFailed } from './process-group.js';
import { moveUpgrade, type AgentStore, type UpgradeRecord } from './upgrade-state.js';

export const NEEDS_RECOVERY = 'bench needs recovery';

/** Module names are `[A-Za-z0-9_-]{1,64}` (the config says so), safe in a file name. */
export function resetRequestPath(workDir: string, module: string): string {
  return join(workDir, `reset-request-${module}`);
}

export async function requestReset(workDir: string, module: string, atIso: string): Promise<void> {
  await writeFile(resetRequestPath(workDir, module), `${atIso}\n`, { mode: 0o600 });
}

export async function resetRequested(workDir: string, module: string): Promise<boolean> {
  return readFile(resetRequestPath(workDir, module)).then(() => true, () => false);
}

async function clear(store: AgentStore, rec: UpgradeRecord, why: string, log: Logger): Promise<void> {
  moveUpgrade(rec, 'failed');
  rec.failure = `${rec.failure ?? 'rollback failed'}; ${why}`;
  await store.save();
  log.info({ module: rec.module, why }, 'bench recovered: upgrades accepted again');
}

/**
 * Whether a notice for this module must be refused. A pending operator reset is taken here, so a
 * reset reaches a running agent without a restart.
 */
export async function refuseForRecovery(store: AgentStore, module: string, log: Logger): Promise<boolean> {
  const rec = store.state.upgrades[module];
  if (rec?.state !== 'needs-recovery') return false;
  if (!(await resetRequested(store.dir, module))) return true;
  await clear(store, rec, 'reset by an operator', log);
  await rm(resetRequestPath(store.dir, module), { force: true });
  return false;
}

/**
 * Whether `version` must not be announced for this module: it is the destination of an upgrade that
 * has not passed its self-test (still running, cut short, or failed). The platform takes an inform of
 * the destination version as success, so a reconnect mid-soak must not pass a firmware early.
 */
export function informWithheld(store: AgentStore, module: string, version: string): boolean {
  const rec = store.state.upgrades[module];
  return rec !== undefined && rec.version === version && rec.state !== 'done';
}

export interface RecoveryDeps {
  config: AgentConfig;
  store: AgentStore;
  log: Logger;
  currentVersion: (module: string) => Promise<string>;
  /** Kept out of the command's environment and scrubbed from what it says. */
  secrets: readonly string[];
  /** The agent's close: stops a recoverCommand still running. */
  signal: AbortSignal;
}

/**
 * At agent start, once per module: take a pending operator reset; run recoverCommand when a
 * rollback failed or was cut short, or when the version cannot be read. A rollback that was cut
 * short runs again afterwards (the caller resumes it).
 */
export async function recoverAtStart(d: RecoveryDeps): Promise<void> {
  for (const m of d.config.modules) {
    const rec = d.store.state.upgrades[m.name];
    if (rec?.state === 'needs-recovery' && !(await refuseForRecovery(d.store, m.name, d.log))) continue;
    const why = rec?.state === 'needs-recovery' ? 'a rollback failed'
      : rec?.state === 'rolling-back' ? 'a rollback was cut short'
        : m.versionCommand && await d.currentVersion(m.name).then(() => false, () => true) ? 'the version is unreadable' : undefined;
    const command = moduleConfigOf(d.config, m.name)?.recoverCommand;
    if (!why || !command) continue;
    d.log.warn({ module: m.name, why }, 'running recoverCommand');
    const r = await runBenchCommand(command, {
      name: 'ota-recover', timeoutSec: m.rollbackTimeoutSec, signal: d.signal, secrets: d.secrets,
      env: { OTA_MODULE: m.name, OTA_WORK_DIR: d.store.dir, OTA_RECOVER_REASON: why, OTA_VERSION: rec?.version ?? '', OTA_PREVIOUS_VERSION: rec?.previousVersion ?? '' },
    });
    const failed = whyFailed(r, m.rollbackTimeoutSec);
    if (failed) {
      d.log.error({ module: m.name, code: r.code, timedOut: r.timedOut, why: failed, line: r.lastLine }, 'recoverCommand failed: the bench still needs recovery');
      continue;
    }
    if (rec?.state === 'needs-recovery') await clear(d.store, rec, 'recoverCommand succeeded', d.log);
    else d.log.info({ module: m.name }, 'recoverCommand succeeded');
  }
}
