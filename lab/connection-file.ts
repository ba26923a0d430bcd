// lab.json belongs to one running lab: a start never overwrites the file of a lab that is still
// running (its pid alive) nor a file that is not a lab connection file at all, and a lab removes its
// own file when it stops, so a file left behind means a lab that is still up (or one that crashed).
import { readFile, rm, stat } from 'node:fs/promises';
import { OtaError } from '../shared/errors.js';
import { isAlive } from '../shared/lab-liveness.js';
import { LAB_FILE_MAX_BYTES } from '../shared/lab-connection.js';


/** What is at `file` now: nothing, a lab's connection (with its pid, when recorded), or something else. */
async function inspect(file: string): Promise<{ kind: 'none' } | { kind: 'lab'; pid?: number } | { kind: 'other'; why: string }> {
  let text: string;
  try {
    // The bound every reader of lab.json uses (the largest lab's file fits), checked before reading.
    const size = (await stat(file)).size;
    if (size > LAB_FILE_MAX_BYTES) return { kind: 'other', why: `it is ${size} bytes, more than the ${LAB_FILE_MAX_BYTES} a lab connection file can be` };
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'none' };
    return { kind: 'other', why: `it cannot be read (${code ?? (err as Error).message})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return text.trim() === '' ? { kind: 'lab' } : { kind: 'other', why: 'it is not JSON' };
  }
  const o = json as { kind?: unknown; pid?: unknown } | null;
  if (o?.kind !== 'ota-lab') return { kind: 'other', why: 'it is not an ota-lab connection file' };
  return { kind: 'lab', ...(typeof o.pid === 'number' && Number.isSafeInteger(o.pid) && o.pid > 0 ? { pid: o.pid } : {}) };
}

/** Refuse to start over the connection file of a running lab, or over a file that is not one. */
export async function claimConnectionFile(file: string): Promise<void> {
  const found = await inspect(file);
  if (found.kind === 'other') {
    throw new OtaError('CONNECTION_FILE_TAKEN', `will not overwrite ${file}: ${found.why}`, {
      expected: 'a path for the lab connection file that is free or holds an earlier lab\'s file (--connection-file)',
    });
  }
  if (found.kind === 'lab' && found.pid !== undefined && isAlive(found.pid)) {
    throw new OtaError('LAB_ALREADY_RUNNING', `${file} belongs to a lab that is still running (pid ${found.pid})`, {
      expected: `stop that lab first (kill -INT ${found.pid}), or give this one another --connection-file; if pid ${found.pid} is not an ota-lab, delete ${file}`,
      details: { pid: found.pid },
    });
  }
}

/** Remove the connection file if it is still this process's; another lab's file is left alone. */
export async function releaseConnectionFile(file: string): Promise<void> {
  const found = await inspect(file);
  if (found.kind === 'lab' && found.pid === process.pid) await rm(file, { force: true });
}
