// The facts every bench command of an upgrade gets (install, health, rollback): one builder, so the
// health and rollback commands see exactly the install hook's environment.
import type { InstallFacts } from './install-hook.js';
import type { UpgradeRecord } from './upgrade-state.js';

export function installFactsOf(rec: UpgradeRecord, workDir: string): InstallFacts {
  return {
    version: rec.version, module: rec.module, size: rec.size, sign: rec.sign, signMethod: rec.signMethod,
    extData: rec.extData, files: rec.files.map((f) => f.partPath), workDir,
  };
}
