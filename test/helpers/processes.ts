// Spawning the built CLIs as a user would, and waiting on their output (never on sleeps).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = {
  lab: join(ROOT, 'dist', 'lab', 'cli.js'),
  agent: join(ROOT, 'dist', 'agent', 'cli.js'),
  verify: join(ROOT, 'dist', 'orchestrator', 'cli.js'),
} as const;

export interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout+stderr so far match `re`. */
  waitFor(re: RegExp): Promise<string>;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `via`: a command the CLI runs under (e.g. strace and its flags), given `node bin args` after them. */
export function spawnCli(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; via?: readonly string[] } = {}): Spawned {
  const [cmd, ...pre] = [...(opts.via ?? []), process.execPath, bin, ...args] as [string, ...string[]];
  const child = spawn(cmd, pre, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: (s: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = w.re.exec(out + err);
      if (m) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m[0]); }
    }
  };
  child.stdout?.on('data', (c: Buffer) => { out += c.toString(); check(); });
  child.stderr?.on('data', (c: Buffer) => { err += c.toString(); check(); });
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    // A command that cannot start (not installed): said in its output, never an unheard 'error'.
    child.on('error', (e) => { err += `\ncannot start ${cmd}: ${e.message}\n`; check(); resolve(null); });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(re) {
      const m = re.exec(out + err);
      if (m) return Promise.resolve(m[0]);
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        void exited.then((code) => reject(new Error(`process exited (${code}) before ${re}:\n${out}\n${err}`)));
      });
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Run to completion. */
export async function runCliToEnd(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnCli(bin, args, opts);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** True once a process no longer runs (gone, or a zombie waiting for its reaper). */
export async function processGone(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
