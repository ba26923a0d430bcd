// The one process runner for every bench command (install, health, rollback, recover): a shell
// command in its own process group, `progress N` lines on stdout, the last line of output kept for
// the failure text, and a timeout or an abort that stops the whole group, grandchildren included.
import { spawn } from 'node:child_process';

export interface HookRun {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  timedOut: boolean;
  /** The last non-empty line of stderr (what a failing tool usually says). */
  lastErrLine: string;
  /** The last non-empty line of stdout or stderr, whichever came last (`progress N` lines excepted). */
  lastLine: string;
}

export interface HookOptions {
  /** $0 for the shell, so `ps` and the command's own messages say what it is. */
  name: string;
  args?: readonly string[];
  /** Added to the agent's environment. */
  env?: Readonly<Record<string, string>>;
  timeoutSec: number;
  signal: AbortSignal;
  onProgress?: (pct: number) => void;
}

/** A line longer than this is cut: a tool that prints megabytes without a newline cannot grow memory. */
const MAX_LINE_CHARS = 4096;
/** After SIGTERM, the group gets this long before SIGKILL. */
const KILL_GRACE_MS = 2000;

class LineSplitter {
  #buf = '';
  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    this.#buf += chunk.toString();
    let nl: number;
    while ((nl = this.#buf.indexOf('\n')) >= 0) {
      this.onLine(this.#buf.slice(0, nl).trim());
      this.#buf = this.#buf.slice(nl + 1);
    }
    if (this.#buf.length > MAX_LINE_CHARS) this.#buf = this.#buf.slice(0, MAX_LINE_CHARS);
  }

  end(): void {
    if (this.#buf.trim()) this.onLine(this.#buf.trim());
    this.#buf = '';
  }
}

export async function runHook(command: string, o: HookOptions): Promise<HookRun> {
  const child = spawn('/bin/sh', ['-c', command, o.name, ...(o.args ?? [])], {
    env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let lastErrLine = '';
  let lastLine = '';
  const out = new LineSplitter((line) => {
    const m = /^progress\s+(\d{1,3})$/.exec(line);
    if (m) o.onProgress?.(Math.min(100, Number(m[1])));
    else if (line) lastLine = line.slice(0, MAX_LINE_CHARS);
  });
  const err = new LineSplitter((line) => {
    if (!line) return;
    lastErrLine = line.slice(0, MAX_LINE_CHARS);
    lastLine = lastErrLine;
  });
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  let timedOut = false;
  // The command runs in its own process group, so a timeout stops everything it started.
  const kill = (sig: NodeJS.Signals) => { try { process.kill(-(child.pid as number), sig); } catch { /* already gone */ } };
  const stopGroup = () => { kill('SIGTERM'); setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS).unref(); };
  const timer = setTimeout(() => { timedOut = true; stopGroup(); }, o.timeoutSec * 1000);
  const onAbort = () => stopGroup();
  o.signal.addEventListener('abort', onAbort);
  let leftover: NodeJS.Timeout | undefined;
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    // A background process left behind keeps the pipes open, and 'close' would wait for it for
    // ever: once the command itself has exited, what it left running gets the grace time, then the group is stopped.
    child.on('exit', () => { leftover = setTimeout(stopGroup, KILL_GRACE_MS); leftover.unref(); });
    child.on('close', (c) => resolve(c));
  }).finally(() => { clearTimeout(timer); clearTimeout(leftover); o.signal.removeEventListener('abort', onAbort); });
  out.end();
  err.end();
  return { code, timedOut, lastErrLine, lastLine };
}
