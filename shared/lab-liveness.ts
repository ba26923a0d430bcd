// Whether the lab that wrote a lab.json still runs, in the one sentence all three CLIs print when
// they cannot reach it. lab.json records the lab's pid; a lab that was killed leaves its file behind
// (a lab that stops cleanly removes it), so "nothing answers" and "its pid is gone" together mean
// "start a lab", not "check the network".
import { OtaError } from './errors.js';
import type { LabConnection } from './lab-connection.js';

/** Whether a process with this pid runs (on this machine). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the file names a lab pid that no longer runs (a file without a pid says nothing). */
export function labHasStopped(conn: Pick<LabConnection, 'pid'>): boolean {
  return conn.pid !== undefined && !isAlive(conn.pid);
}

/** What to say about the lab of a file when nothing answers at its address. */
export function labStatusHint(conn: Pick<LabConnection, 'pid'>): string {
  if (conn.pid === undefined) return 'is ota-lab running?';
  return isAlive(conn.pid) ? `the lab that wrote it (pid ${conn.pid}) still runs but does not answer`
    : `the lab that wrote it (pid ${conn.pid}) has stopped: start one with ota-lab start`;
}

/** Nothing answers at the lab's address: one line that says whether the lab that wrote the file still runs. */
export function labUnreachable(labFile: string, conn: Pick<LabConnection, 'pid'>, cause: unknown): OtaError {
  return new OtaError('TRANSPORT_ERROR', `cannot reach the lab of ${labFile}: ${labStatusHint(conn)}`, { cause, details: { labFile, ...(conn.pid === undefined ? {} : { labPid: conn.pid }) } });
}
