// The self-test after the version read-back: the module's healthCommand, once or as a soak (every
// healthIntervalSec for healthWindowSec; every run must pass). The destination version is informed
// only after the whole soak passed, so a firmware that boots, reports its version and dies thirty
// seconds later fails its task. A restart during the soak starts the soak again from its first run.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { sleepOn } from '../shared/clock.js';
import { OtaError } from '../shared/errors.js';
import type { AgentConfig } from './agent-config.js';
import { hookEnv } from './install-hook.js';
import { installFactsOf } from './flow-facts.js';
import { runBenchCommand, scrub, whyFailed } from './process-group.js';
import type { FlowContext } from './upgrade-flow.js';

export type ModuleConfig = AgentConfig['modules'][number];

/** The platform keeps a progress desc short (docs/platform.md: under 128 chars). */
const MAX_DESC_CHARS = 120;
/** Where the percent stays during the soak: below 100, which only a passed self-test may report. */
const SELF_TEST_AT = 99;

export function moduleConfigOf(config: AgentConfig, module: string): ModuleConfig | undefined {
  return config.modules.find((m) => m.name === module);
}

/** Whether this module has a self-test step at all: a health command, or the lab's simulated one. */
export function hasSelfTest(config: AgentConfig, module: string): boolean {
  return Boolean(moduleConfigOf(config, module)?.healthCommand) || config.simulateInstall;
}

/** How many runs the soak takes: one without a window, else one per interval across the window. */
export function soakRuns(m: Pick<ModuleConfig, 'healthWindowSec' | 'healthIntervalSec'>): number {
  return m.healthWindowSec > 0 ? Math.max(1, Math.ceil(m.healthWindowSec / m.healthIntervalSec)) : 1;
}

/** What goes to the platform: the failing line, free of secrets and URL signatures, short. */
export function failureDesc(prefix: string, line: string, secrets: readonly string[]): string {
  const clean = scrub(line, secrets).replace(/\p{Cc}/gu, ' ').trim();
  return `${prefix}${clean}`.slice(0, MAX_DESC_CHARS);
}

/** Run the soak; resolves when every run passed, throws SELF_TEST_FAILED at the first failure. */
export async function runSelfTest(c: FlowContext): Promise<void> {
  const m = moduleConfigOf(c.config, c.rec.module);
  const runs = m ? soakRuns(m) : 1;
  const intervalMs = (m?.healthIntervalSec ?? 0) * 1000;
  const startMs = c.clock.now();
  for (let i = 1; i <= runs; i++) {
    // Runs are spaced from the soak's start, not from the end of the previous run, so a slow check
    // cannot stretch the window.
    const waitMs = startMs + (i - 1) * intervalMs - c.clock.now();
    if (waitMs > 0) await sleepOn(c.clock, waitMs, c.signal);
    if (c.signal.aborted) throw new OtaError('CANCELLED', 'self-test stopped');
    const label = `self-test ${i}/${runs}`;
    c.progress.restate(label, SELF_TEST_AT);
    if (m?.healthCommand) await runHealthCommand(c, m, i, runs, label);
    else await simulateHealth(c);
    c.log.info({ module: c.rec.module, version: c.rec.version, run: i, runs }, 'self-test run passed');
  }
}

async function runHealthCommand(c: FlowContext, m: ModuleConfig, run: number, runs: number, label: string): Promise<void> {
  let lastPct = 0;
  const env = { ...hookEnv(installFactsOf(c.rec, c.store.dir)), OTA_HEALTH_RUN: String(run), OTA_HEALTH_RUNS: String(runs) };
  const r = await runBenchCommand(m.healthCommand as string, {
    name: 'ota-health', env, timeoutSec: m.healthTimeoutSec, signal: c.signal, secrets: [c.config.deviceSecret],
    onProgress: (pct) => {
      // A chatty check cannot flood the platform: its own percent is passed on in steps of 10.
      if (pct - lastPct < 10 && pct !== 100) return;
      lastPct = pct;
      c.progress.restate(`${label} (${pct}%)`, SELF_TEST_AT);
    },
  });
  if (c.signal.aborted) throw new OtaError('CANCELLED', 'self-test stopped');
  const why = whyFailed(r, m.healthTimeoutSec);
  if (!why) return;
  const line = r.timedOut || !r.lastLine ? `${why}${r.lastLine ? ` (${r.lastLine})` : ''}` : r.lastLine;
  c.log.warn({ module: c.rec.module, run, runs, code: r.code, timedOut: r.timedOut }, 'self-test run failed');
  throw new OtaError('SELF_TEST_FAILED', failureDesc('self-test failed: ', line, [c.config.deviceSecret]), {
    expected: 'the health command to exit 0', found: r.timedOut ? 'a timeout' : `exit ${r.code}`, details: { run, runs },
  });
}

/** The lab's self-test: the simulated install left its image in place; the failure switch makes it fail. */
async function simulateHealth(c: FlowContext): Promise<void> {
  const image = join(c.store.dir, 'installed', c.rec.module, 'file-0.bin');
  const installed = await access(image).then(() => true, () => false);
  if (!installed) throw new OtaError('SELF_TEST_FAILED', 'self-test failed: no installed image (simulated)');
  if (c.config.simulateFailure) {
    throw new OtaError('SELF_TEST_FAILED', `self-test failed: no heartbeat from ${c.config.deviceName} within 5 s (simulated)`.slice(0, MAX_DESC_CHARS));
  }
}
