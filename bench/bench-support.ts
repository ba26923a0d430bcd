// Helpers the benchmarks share: child processes, memory readings, medians.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { access, constants, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { isOtaError } from '../shared/errors.js';
import type { LabConnection } from '../shared/lab-connection.js';
import type { ApiCall } from '../shared/openapi-client.js';

export const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchRow {
  suite: string;
  metric: string;
  value: number;
  unit: string;
  target?: string;
  /** true met, false missed, undefined no target. */
  met?: boolean;
  note?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function spread(xs: number[], digits = 2): string {
  return `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
}

/** Whether this process may run `path`: a bench whose yardstick tool is missing skips that row. */
export async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(() => true, () => false);
}

/** VmRSS and VmHWM (peak) of a process, in MiB, from /proc. */
export async function memoryMiB(pid: number): Promise<{ rss: number; peak: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** A lab in a process of its own; `nodeArgs` go to node before the script (e.g. `--cpu-prof`). */
/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 1/100 s). */
export async function cpuSec(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after its closing parenthesis.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

export async function startLabProcess(options: Record<string, unknown>, nodeArgs: readonly string[] = []): Promise<{ conn: LabConnection; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [...nodeArgs, join(DIST, 'bench', 'lab-process.js'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const conn = await new Promise<LabConnection>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as LabConnection);
    });
    child.once('exit', (code) => reject(new Error(`lab process exited with ${code}`)));
  });
  let stopping = false;
  return {
    conn, child,
    async stop() {
      // A lab that died during the suite makes the suite fail, even if its figures were read before.
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the lab process died during the run (exit ${child.exitCode ?? child.signalCode})`);
      if (stopping) return;
      stopping = true;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}

/** A file of `bytes` random bytes (incompressible, so no layer can cheat on it). */
export async function writeRandom(file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  for (let done = 0; done < bytes; done += chunk.length) {
    randomFillSync(chunk);
    if (!out.write(bytes - done < chunk.length ? chunk.subarray(0, bytes - done) : chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(r));
}

/** Waits until the lab knows every device's version, and says how long that took. A fleet is up only
 *  then: a job created before a device's first inform takes an unknown source version, and the inform
 *  that follows fails the task ("report version is not conform", as the platform does). */
export async function untilVersionsKnown(call: ApiCall, conn: LabConnection, timeoutMs: number): Promise<number> {
  const startedMs = Date.now();
  // BatchQueryDeviceDetail takes 100 names: 50 calls for a fleet of 5,000, not 5,000.
  for (let i = 0; i < conn.devices.length; i += 100) {
    let waiting = conn.devices.slice(i, i + 100).map((d) => d.deviceName);
    for (;;) {
      let answer;
      try {
        answer = await call('BatchQueryDeviceDetail', { ProductKey: conn.productKey, DeviceName: waiting });
      } catch (err) {
        // A lab with its API limits on (the verify suites) refuses a fast poll: wait and ask again.
        if (!(isOtaError(err, 'PLATFORM_ERROR') && String(err.details.platformCode).startsWith('Throttling'))) throw err;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const rows = (answer.Data as { Data?: { DeviceName: string; FirmwareVersion?: string; Status?: string }[] }).Data ?? [];
      const known = new Set(rows.filter((r) => r.FirmwareVersion).map((r) => r.DeviceName));
      waiting = waiting.filter((n) => !known.has(n));
      if (waiting.length === 0) break;
      if (Date.now() - startedMs > timeoutMs) {
        const status = rows.find((r) => r.DeviceName === waiting[0])?.Status ?? 'unknown';
        throw new Error(`${waiting.length} device(s), e.g. ${waiting[0]}, had not reported a version ${timeoutMs / 1000} s after their agents started (status ${status})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return Date.now() - startedMs;
}
