// The one process runner for every shell command the agent runs (install, health, rollback and
// recover commands, the version command): in its own process group, with an environment free of
// secrets, bounded in time and in the output we keep, and what it says scrubbed of secrets. Stopping
// one stops everything it started: SIGTERM to the group, then SIGKILL to the group after a grace period.
import { spawn } from 'node:child_process';
import { redactUrlSecrets, redactValues } from '../shared/redact.js';
import { SECRET_ENV_VARS } from './agent-config.js';

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
  /** Each `progress N` line on stdout, as it arrives (N capped at 100). */
  onProgress?: (pct: number) => void;
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
  /** The last non-empty stderr line (raw from runProcessGroup, scrubbed by runBenchCommand), at most MAX_LINE_CHARS. */
  lastErrLine: string;
  /** The last non-empty line of stdout or stderr, whichever came last (`progress N` lines excepted). */
  lastLine: string;
  spawnError?: Error;
}

/** A line longer than this is cut: a hook writing without newlines cannot grow our memory. */
const MAX_LINE_CHARS = 4096;
/** After the shell exits, how long its output pipes may stay open (held by something it left behind). */
const PIPE_DRAIN_MS = 1000;
const PROGRESS_LINE = /^progress\s+(\d{1,3})$/;

export function runProcessGroup(o: GroupRun): Promise<GroupResult> {
  return new Promise((resolve) => {
    const result: GroupResult = { code: null, exitSignal: null, timedOut: false, aborted: false, overflow: false, stdout: '', lastErrLine: '', lastLine: '' };
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
      flush();
      for (const t of timers) clearTimeout(t);
      o.signal?.removeEventListener('abort', onAbort);
      // Whatever still holds our pipes is not waited for.
      child.stdout.destroy();
      child.stderr.destroy();
      if (stopping) killGroup('SIGKILL');
      resolve(result);
    };
    const onAbort = () => { result.aborted = true; stop(); };

    const onOutLine = (line: string) => {
      const m = PROGRESS_LINE.exec(line);
      if (m) o.onProgress?.(Math.min(100, Number(m[1])));
      else if (line) result.lastLine = line.slice(0, MAX_LINE_CHARS);
    };
    const errDone = (line: string) => { result.lastErrLine = line.slice(0, MAX_LINE_CHARS); result.lastLine = result.lastErrLine; };
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
      outLine += c.toString('utf8');
      let nl: number;
      while ((nl = outLine.indexOf('\n')) >= 0) {
        onOutLine(outLine.slice(0, nl).trim());
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
      if (last) errDone(last);
    });
    // A last line without a newline still counts, once, when the command has ended.
    const flush = () => {
      if (outLine.trim()) onOutLine(outLine.trim());
      if (errLine.trim()) errDone(errLine.trim());
      outLine = '';
      errLine = '';
    };
    child.on('error', (err) => { result.spawnError = err; finish(); });
    child.on('exit', (code, sig) => {
      result.code = code;
      result.exitSignal = sig;
      // Something it left behind may hold the pipes; while stopping, the SIGKILL timer ends the wait.
      if (!stopping) timers.push(setTimeout(finish, PIPE_DRAIN_MS));
    });
    child.on('close', finish);
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

/** A line a command wrote, fit for a log or the platform's desc: no URL signature, no secret. */
export function scrub(line: string, secrets: readonly string[]): string {
  return redactValues(redactUrlSecrets(line), secrets);
}

export interface BenchCommand {
  /** $0 of the shell (`ota-install`, `ota-health`, …), so `ps` and the command's messages say what it is. */
  name: string;
  args?: readonly string[];
  /** Added to the agent's environment, which is stripped of every secret first. */
  env?: Readonly<Record<string, string>>;
  timeoutSec: number;
  killGraceMs?: number;
  signal?: AbortSignal;
  onProgress?: (pct: number) => void;
  /** Secret values: kept out of the environment and scrubbed from what the command says. */
  secrets: readonly string[];
  /** Stdout kept for the result (the version command); default 0. */
  keepStdoutBytes?: number;
}

/** Run a bench command the way every one of them runs: secret-free environment, group kill, scrubbed lines. */
export async function runBenchCommand(command: string, o: BenchCommand): Promise<GroupResult> {
  const r = await runProcessGroup({
    command, name: o.name, args: o.args ?? [], env: cleanEnv(process.env, SECRET_ENV_VARS, o.secrets, { ...o.env }), timeoutMs: o.timeoutSec * 1000,
    keepStdoutBytes: o.keepStdoutBytes ?? 0,
    ...(o.killGraceMs !== undefined ? { killGraceMs: o.killGraceMs } : {}), ...(o.signal ? { signal: o.signal } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  return { ...r, lastErrLine: scrub(r.lastErrLine, o.secrets), lastLine: scrub(r.lastLine, o.secrets) };
}

/** Why a command did not succeed, in words (`timed out after 30 s`, `exited 2`), or undefined when it did. */
export function whyFailed(r: GroupResult, timeoutSec: number): string | undefined {
  if (r.spawnError) return `could not start: ${r.spawnError.message}`;
  if (r.aborted) return 'was stopped';
  if (r.timedOut) return `timed out after ${timeoutSec} s`;
  if (r.overflow) return 'printed too much';
  if (r.code !== 0) return r.code === null ? `killed by ${r.exitSignal ?? 'a signal'}` : `exited ${r.code}`;
  return undefined;
}
