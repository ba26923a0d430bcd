// `npm link` into a throwaway global prefix, so tests can run the CLIs the way the README tells users
// to (`npx ota-…` or the linked `ota-…` on PATH) without touching the machine's global npm.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './processes.js';

export interface LinkedPrefix {
  /** Environment in which `npx ota-…` and `ota-…` resolve to this checkout, offline. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  bin: string;
  remove(): Promise<void>;
}

export async function linkIntoPrefix(): Promise<LinkedPrefix> {
  const prefix = await mkdtemp(join(tmpdir(), 'npm-prefix-'));
  const bin = join(prefix, 'bin');
  // npx finds a linked package through the global prefix; offline, so a miss is an error, never a registry download.
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    ...process.env, ...extra, PATH: `${bin}:${process.env.PATH ?? ''}`, npm_config_prefix: prefix, npm_config_offline: 'true', npm_config_update_notifier: 'false',
  });
  const out: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn('npm', ['link', '--no-audit', '--no-fund'], { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => out.push(c.toString()));
    child.stderr.on('data', (c: Buffer) => out.push(c.toString()));
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`npm link into ${prefix} failed (${code}):\n${out.join('')}`);
  return { env, bin, remove: () => rm(prefix, { recursive: true, force: true }) };
}
