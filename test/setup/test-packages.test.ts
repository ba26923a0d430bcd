// npm test's provisioning of Debian packages, with the executable lookup pointed at a directory we
// control (never by uninstalling anything): what it prints, what it runs, and how it fails.
import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import config from '../../vitest.config.js';
import { defaultSearchDirs, provisionTestPackages, type ProvisionDeps } from './test-packages.js';

const dirs: string[] = [];
afterEach(async () => { for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }); });

async function fakeBin(dir: string, name: string): Promise<void> {
  await writeFile(join(dir, name), '#!/bin/sh\nexit 0\n');
  await chmod(join(dir, name), 0o755);
}

/** A search path holding openssl and strace but no mosquitto, and a recorder for what would run. */
async function world(isRoot: boolean, aptExit = 0) {
  const dir = await mkdtemp(join(tmpdir(), 'provision-'));
  dirs.push(dir);
  await fakeBin(dir, 'openssl');
  await fakeBin(dir, 'strace');
  const ran: string[] = [];
  const said: string[] = [];
  const deps: ProvisionDeps = {
    searchDirs: [dir],
    isRoot,
    async run(cmd, args, env) {
      ran.push(`${env.DEBIAN_FRONTEND ?? ''} ${cmd} ${args.join(' ')}`.trim());
      // A successful install puts the executable where the lookup finds it, as apt-get would.
      if (args[0] === 'install' && aptExit === 0) await fakeBin(dir, 'mosquitto');
      return args[0] === 'install' ? aptExit : 0;
    },
    say: (line) => said.push(line),
  };
  return { dir, ran, said, deps };
}

describe('npm test provisioning (vitest globalSetup)', () => {
  it('is wired into vitest.config.ts', () => {
    expect(config.test?.globalSetup).toEqual(['test/setup/global-setup.ts']);
    expect(existsSync(join(import.meta.dirname, 'global-setup.ts'))).toBe(true);
  });

  it('without mosquitto and not root: fails with the one command to run, and runs nothing', async () => {
    const w = await world(false);
    await expect(provisionTestPackages(w.deps)).rejects.toThrow(
      "npm test needs Debian's mosquitto (the external-broker tests run the lab over it), which is not installed. Install with:\n  sudo apt-get install -y mosquitto",
    );
    expect(w.ran).toEqual([]);
  });

  it('without mosquitto and openssl: names both in one command', async () => {
    const w = await world(false);
    await rm(join(w.dir, 'openssl'));
    await expect(provisionTestPackages(w.deps)).rejects.toThrow(/which are not installed\. Install with:\n {2}sudo apt-get install -y mosquitto openssl$/);
  });

  it('without mosquitto as root: installs it with apt-get, saying what it does', async () => {
    const w = await world(true);
    await provisionTestPackages(w.deps);
    expect(w.ran).toEqual(['noninteractive apt-get update -qq', 'noninteractive apt-get install -y -qq mosquitto']);
    expect(w.said).toEqual([
      'npm test: missing mosquitto (the external-broker tests run the lab over it); installing with apt-get, as root',
      'npm test: apt-get update -qq',
      'npm test: apt-get install -y -qq mosquitto',
      'npm test: installed mosquitto',
    ]);
  });

  it('as root, when apt-get fails: fails naming the exit code and the command to run by hand', async () => {
    const w = await world(true, 100);
    await expect(provisionTestPackages(w.deps)).rejects.toThrow(/could not install mosquitto with apt-get \(exit 100; still missing: mosquitto\)\. Install it by hand:\n {2}sudo apt-get install -y mosquitto$/);
  });

  it('with everything there: runs and prints nothing', async () => {
    const w = await world(true);
    await fakeBin(w.dir, 'mosquitto');
    await provisionTestPackages(w.deps);
    expect(w.ran).toEqual([]);
    expect(w.said).toEqual([]);
  });

  it('looks in the sbin directories too, where Debian puts mosquitto, not only PATH', () => {
    expect(defaultSearchDirs('/opt/bin')).toEqual(['/opt/bin', '/usr/local/sbin', '/usr/sbin', '/sbin']);
  });
});
