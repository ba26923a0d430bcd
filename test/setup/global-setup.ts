// vitest globalSetup: make sure the Debian packages the tests use are there before any test runs
// (see test-packages.ts). Runs once per vitest invocation, before the workers start.
import { defaultSearchDirs, provisionTestPackages, runCommand } from './test-packages.js';

export default async function setup(): Promise<void> {
  await provisionTestPackages({
    searchDirs: defaultSearchDirs(),
    isRoot: process.getuid?.() === 0,
    run: runCommand,
    say: (line) => process.stderr.write(`${line}\n`),
  });
}
