// `ota-agent status` and `ota-agent reset --module M`: read (and, for reset, leave a request in) the
// agent's work directory only: no MQTT, no secret needed, safe while an agent runs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadAgentConfig, type ConfigSources } from '../agent-config.js';
import { UsageError } from '../../shared/cli-support.js';
import { createLogger } from '../../shared/logger.js';
import { requestReset, resetRequested } from '../recovery.js';
import { AgentStore, type UpgradeRecord } from '../upgrade-state.js';

export interface StateSources {
  /** A config or lab file, to find the work directory and the module names. */
  config?: ConfigSources;
  /** Or the work directory itself. */
  workDir?: string;
}

interface Bench {
  workDir: string;
  modules: string[];
  upgrades: Record<string, UpgradeRecord>;
}

/** The work directory's state, or undefined when no agent ever ran there (nothing is created). */
async function readBench(s: StateSources): Promise<Bench | undefined> {
  let workDir = s.workDir;
  let modules: string[] = [];
  if (s.config) {
    // Reading files needs no device secret: a placeholder satisfies the config's schema, and
    // nothing here connects.
    const config = await loadAgentConfig({ ...s.config, overrides: { ...s.config.overrides, deviceSecret: 'not-used-by-status' }, env: {} });
    workDir ??= config.workDir;
    modules = config.modules.map((m) => m.name);
  }
  if (!workDir) throw new UsageError('say where the agent works: --config bench.json, --lab lab.json --device NAME, or --work-dir DIR');
  if (!existsSync(join(workDir, 'agent-state.json'))) return undefined;
  // Read only: a status never writes into a running agent's folder; a malformed record is named on stderr.
  const store = await AgentStore.read(workDir, createLogger({ name: 'ota-agent', level: 'warn' }));
  const upgrades = store.state.upgrades;
  return { workDir, upgrades, modules: [...new Set([...modules, ...Object.keys(upgrades)])] };
}

async function describeModule(b: Bench, module: string): Promise<string> {
  const rec = b.upgrades[module];
  if (!rec) return `module ${module}: ready (no upgrade recorded)`;
  const what = `upgrade to ${rec.version}`;
  switch (rec.state) {
    case 'done': return `module ${module}: ready (last ${what} done)`;
    case 'failed': return `module ${module}: ready (last ${what} failed${rec.previousVersion ? `, back on ${rec.previousVersion}` : ''}: ${rec.failure ?? 'no reason recorded'})`;
    case 'cancelled': return `module ${module}: ready (last ${what} replaced by a newer notice)`;
    case 'needs-recovery': {
      const reset = await resetRequested(b.workDir, module) ? '\n  reset requested: the agent clears it at its next start or the next notice for this module' : '';
      return `module ${module}: NEEDS RECOVERY (${what} failed and the rollback did not bring back ${rec.previousVersion ?? 'the previous version'}): ${rec.failure ?? ''}\n` +
        `  new upgrades are refused until recoverCommand succeeds at the next agent start, or: ota-agent reset --module ${module}${reset}`;
    }
    default: return `module ${module}: ${rec.state} (${what} in progress${rec.state === 'rolling-back' ? `, going back to ${rec.previousVersion ?? 'the previous version'}` : ''})`;
  }
}

/** Prints each module's state; exit 1 when a module needs recovery (a CI step can gate on it). */
export async function statusCommand(s: StateSources, out: (line: string) => void): Promise<number> {
  const b = await readBench(s);
  if (!b) {
    out('no upgrade state here: the agent has not run with this work directory yet');
    return 0;
  }
  out(`work dir ${b.workDir}`);
  for (const m of b.modules) out(await describeModule(b, m));
  return b.modules.some((m) => b.upgrades[m]?.state === 'needs-recovery') ? 1 : 0;
}

/** An operator's word that the bench is back in order: the agent takes upgrades for the module again. */
export async function resetCommand(s: StateSources, module: string, out: (line: string) => void): Promise<number> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(module)) throw new UsageError(`--module ${JSON.stringify(module.slice(0, 80))} is not a module name (expected 1-64 letters, digits, "_" or "-")`);
  const b = await readBench(s);
  const rec = b?.upgrades[module];
  if (b && !b.modules.includes(module)) throw new UsageError(`module ${JSON.stringify(module)} is not known here (known: ${b.modules.join(', ')})`);
  if (!b || rec?.state !== 'needs-recovery') {
    out(`module ${module} does not need recovery${rec ? ` (state: ${rec.state})` : ''}; nothing to reset`);
    return 0;
  }
  await requestReset(b.workDir, module, new Date().toISOString());
  out(`module ${module}: reset requested; the agent takes upgrades again from its next start or the next notice (a running agent needs no restart)`);
  return 0;
}
