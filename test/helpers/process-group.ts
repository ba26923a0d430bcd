// A command in a process group of its own, as a terminal runs a foreground job: a "Ctrl-C" is SIGINT
// to the whole group (npm, sh and the program alike), and `kill %1` is SIGTERM to the group.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Ran { code: number | null; signal: NodeJS.Signals | null; out: string }

export interface GroupProcess {
  child: ChildProcess;
  out(): string;
  /** Resolves when stdout+stderr so far match `re`; rejects if the process ends first. */
  waitFor(re: RegExp): Promise<void>;
  exited: Promise<Ran>;
  /** Signal the whole group and wait for the leader to end. */
  signal(sig: NodeJS.Signals): Promise<Ran>;
  /** Resolves true once no process of the group is left (false after ~20 s). */
  gone(): Promise<boolean>;
}

export function spawnGroup(cmd: string, args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): GroupProcess {
  const child = spawn(cmd, [...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const onData = (c: Buffer) => {
    out += c.toString();
    for (const w of [...waiters]) if (w.re.test(out)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<Ran>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out })));
  const pgid = child.pid as number;
  return {
    child,
    out: () => out,
    exited,
    waitFor: (re) => (re.test(out) ? Promise.resolve() : new Promise((resolve, reject) => {
      waiters.push({ re, resolve });
      void exited.then((r) => reject(new Error(`exited (${r.code ?? r.signal}) before ${re}:\n${out}`)));
    })),
    signal(sig) {
      try { process.kill(-pgid, sig); } catch { /* already gone */ }
      return exited;
    },
    async gone() {
      // Members of the group other than the leader (an orphaned program) end on their own schedule: poll, bounded.
      for (let i = 0; i < 400; i += 1) {
        try { process.kill(-pgid, 0); } catch { return true; }
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    },
  };
}
