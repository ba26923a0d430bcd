// What `npm test` needs from Debian besides npm's packages, and how it gets them: mosquitto (the
// external-broker tests), openssl (the lab's TLS CA) and strace (the agent's write calls). When one is missing and we are root, install
// it with apt-get, saying so; otherwise fail with the one command to run. Tests never skip instead.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export interface TestPackage {
  /** The Debian package. */
  pkg: string;
  /** The executable it provides. */
  bin: string;
  /** Why the tests need it, for the message. */
  why: string;
}

export const TEST_PACKAGES: readonly TestPackage[] = Object.freeze([
  { pkg: 'mosquitto', bin: 'mosquitto', why: 'the external-broker tests run the lab over it' },
  { pkg: 'openssl', bin: 'openssl', why: 'the lab makes its TLS CA with it' },
  { pkg: 'strace', bin: 'strace', why: 'a test reads the agent\'s write calls from the kernel\'s side' },
]);

export interface ProvisionDeps {
  /** Directories to look for executables in (PATH, plus the sbin directories mosquitto lives in). */
  searchDirs: readonly string[];
  isRoot: boolean;
  /** Runs a command with the given extra environment; answers its exit code. */
  run(cmd: string, args: readonly string[], env: Readonly<Record<string, string>>): Promise<number>;
  say(line: string): void;
}

export function findExecutable(bin: string, dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    if (!dir) continue;
    const p = join(dir, bin);
    try { accessSync(p, constants.X_OK); return p; } catch { /* not here */ }
  }
  return undefined;
}

export function defaultSearchDirs(pathEnv = process.env.PATH ?? ''): string[] {
  return [...pathEnv.split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
}

export function installCommand(pkgs: readonly string[]): string {
  return `sudo apt-get install -y ${pkgs.join(' ')}`;
}

/** Resolves when every package is there (installing what is missing as root); rejects with the fix otherwise. */
export async function provisionTestPackages(deps: ProvisionDeps, packages: readonly TestPackage[] = TEST_PACKAGES): Promise<void> {
  const missing = packages.filter((p) => !findExecutable(p.bin, deps.searchDirs));
  if (missing.length === 0) return;
  const names = missing.map((p) => p.pkg);
  const reasons = missing.map((p) => `${p.pkg} (${p.why})`).join(', ');
  if (!deps.isRoot) {
    throw new Error(`npm test needs Debian's ${reasons}, which ${missing.length > 1 ? 'are' : 'is'} not installed. Install with:\n  ${installCommand(names)}`);
  }
  deps.say(`npm test: missing ${reasons}; installing with apt-get, as root`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  deps.say('npm test: apt-get update -qq');
  const updated = await deps.run('apt-get', ['update', '-qq'], env);
  deps.say(`npm test: apt-get install -y -qq ${names.join(' ')}`);
  const installed = updated === 0 ? await deps.run('apt-get', ['install', '-y', '-qq', ...names], env) : updated;
  const still = missing.filter((p) => !findExecutable(p.bin, deps.searchDirs)).map((p) => p.pkg);
  if (installed !== 0 || still.length > 0) {
    throw new Error(`npm test could not install ${names.join(' ')} with apt-get (exit ${installed}${still.length ? `; still missing: ${still.join(' ')}` : ''}). Install it by hand:\n  ${installCommand(names)}`);
  }
  deps.say(`npm test: installed ${names.join(' ')}`);
}

export function runCommand(cmd: string, args: readonly string[], env: Readonly<Record<string, string>>): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', () => resolve(127));
    child.once('close', (code) => resolve(code ?? 1));
  });
}
