// The agent's shell commands (install hook, version command) run here: in their own process group,
// with an environment free of secrets, bounded in time and in the output we keep. Stopping one
// stops everything it started: SIGTERM to the group, then SIGKILL to the group after a grace period.
import { spawn } from 'node:child_process';

/** SIGTERM → SIGKILL grace: short, so that an agent close (which stops its commands) ends within 3 s. */
export const KILL_GRACE_MS = 1500;

export interface GroupRun {
  command: string;
  /** $0 of the shell, as the command sees it. */
  name: string;
  /** Positional arguments ($1, $2, …) after the command. */
  args?: readonly string[];
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Between SIGTERM and SIGKILL when the command is stopped (timeout, abort, too much output). */
  killGraceMs?: number;
  signal?: AbortSignal;
  /** Each complete stdout line (trimmed), as it arrives. */
  onLine?: (line: string) => void;
  /** Stdout kept for the result; more than this stops the command (`overflow`). 0 keeps nothing. */
  keepStdoutBytes: number;
}

export interface GroupResult {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  exitSignal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  overflow: boolean;
  stdout: string;
  /** The last non-empty stderr line (raw: the caller redacts it), at most MAX_LINE_CHARS. */
  lastErrLine: string;
  spawnError?: Error;
}

/** A line longer than this is cut: a hook writing without newlines cannot grow our memory. */
const MAX_LINE_CHARS = 4096;
/** After the shell exits, how long its output pipes may stay open (held by something it left behind). */
const PIPE_DRAIN_MS = 1000;

export function runProcessGroup(o: GroupRun): Promise<GroupResult> {
  return new Promise((resolve) => {
    const result: GroupResult = { code: null, exitSignal: null, timedOut: false, aborted: false, overflow: false, stdout: '', lastErrLine: '' };
    const child = spawn('/bin/sh', ['-c', o.command, o.name, ...(o.args ?? [])], { env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timers: NodeJS.Timeout[] = [];
    let settled = false;
    let stopping = false;
    const killGroup = (sig: NodeJS.Signals) => {
      // A negative pid is the whole group: the shell and everything it started (detached: true made it a leader).
      try { if (child.pid !== undefined) process.kill(-child.pid, sig); } catch { /* already gone */ }
    };
    const stop = () => {
      if (stopping) return;
      stopping = true;
      killGroup('SIGTERM');
      timers.push(setTimeout(() => {
        killGroup('SIGKILL');
        // Only a process that left the group (setsid) can still hold the pipes now.
        timers.push(setTimeout(finish, PIPE_DRAIN_MS));
      }, o.killGraceMs ?? KILL_GRACE_MS));
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      o.signal?.removeEventListener('abort', onAbort);
      // Whatever still holds our pipes is not waited for.
      child.stdout.destroy();
      child.stderr.destroy();
      if (stopping) killGroup('SIGKILL');
      resolve(result);
    };
    const onAbort = () => { result.aborted = true; stop(); };

    let outLine = '';
    let kept = 0;
    child.stdout.on('data', (c: Buffer) => {
      if (o.keepStdoutBytes > 0) {
        kept += c.length;
        if (kept > o.keepStdoutBytes) {
          if (!result.overflow) { result.overflow = true; stop(); }
        } else {
          result.stdout += c.toString('utf8');
        }
      }
      if (!o.onLine) return;
      outLine += c.toString('utf8');
      let nl: number;
      while ((nl = outLine.indexOf('\n')) >= 0) {
        o.onLine(outLine.slice(0, nl).trim());
        outLine = outLine.slice(nl + 1);
      }
      if (outLine.length > MAX_LINE_CHARS) outLine = '';
    });
    let errLine = '';
    child.stderr.on('data', (c: Buffer) => {
      errLine += c.toString('utf8');
      const lines = errLine.split('\n');
      errLine = (lines.pop() ?? '').slice(-MAX_LINE_CHARS);
      const last = lines.map((l) => l.trim()).filter(Boolean).pop();
      if (last) result.lastErrLine = last.slice(0, MAX_LINE_CHARS);
    });
    child.on('error', (err) => { result.spawnError = err; finish(); });
    child.on('exit', (code, sig) => {
      result.code = code;
      result.exitSignal = sig;
      if (errLine.trim()) result.lastErrLine = errLine.trim().slice(0, MAX_LINE_CHARS);
      // Something it left behind may hold the pipes; while stopping, the SIGKILL timer ends the wait.
      if (!stopping) timers.push(setTimeout(finish, PIPE_DRAIN_MS));
    });
    child.on('close', () => {
      if (errLine.trim()) result.lastErrLine = errLine.trim().slice(0, MAX_LINE_CHARS);
      finish();
    });
    timers.push(setTimeout(() => { result.timedOut = true; stop(); }, o.timeoutMs));
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The environment for a command: the agent's own, minus every secret-bearing variable. */
export function cleanEnv(base: NodeJS.ProcessEnv, secretVars: readonly string[], secretValues: readonly string[], extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) {
    if (v === undefined || secretVars.includes(k)) continue;
    // Also any variable that merely carries a secret's value, whatever its name.
    if (secretValues.some((s) => s.length >= 4 && v.includes(s))) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}
