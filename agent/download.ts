// Download one file to a part file in the work directory, hashing the bytes as they reach the disk
// (never holding the file in memory). One writer per part file: each attempt opens it, writes every
// chunk it received in order, fsyncs and closes it before the next attempt looks at its size, so a
// resume always asks for exactly the bytes after what is on disk and the digest covers exactly them.
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { backoffDelayMs } from '../shared/backoff.js';
import type { Clock } from '../shared/clock.js';
import { OtaError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { redactUrlSecrets } from '../shared/redact.js';
import type { FetchResponse, Fetcher } from './fetcher.js';
import { blockBytesFor } from './block-pool.js';
import { rehashPartial, startOver } from './part-file.js';
import { PartWriter, writeFailed } from './part-writer.js';
import type { CheckedDigester } from './verify.js';

/** Bounds shared by every file of one upgrade. */
export interface DownloadLimits {
  /** Failed attempts allowed for the whole upgrade's download, across restarts (a cut that made progress is not one). */
  retries: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** No response, or no byte, for this long is a failed attempt. */
  timeoutMs: number;
  /** Clock time at which the download as a whole gives up. */
  deadlineAtMs: number;
  deadlineSec: number;
  /** An attempt that receives fewer than minBytesPerSec × rateWindowMs / 1000 bytes in a window is a failed attempt (0: off). */
  minBytesPerSec: number;
  rateWindowMs: number;
}

export interface DownloadInput {
  url: string;
  size: number;
  partPath: string;
  fetcher: Fetcher;
  /** A fresh digester per start from byte 0 (the download closes it when it is not returned). */
  newDigester: () => CheckedDigester;
  limits: DownloadLimits;
  /** Failed attempts so far for the whole upgrade (the caller persists it in onAttemptFailed). */
  attempts: { failedAttempts: number };
  onAttemptFailed: () => Promise<void>;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  signal: AbortSignal;
  log: Logger;
  onBytes: (bytesOnDisk: number) => void;
}

export interface DownloadResult {
  /** Every byte of the file is in it (or on its way to it): check it, or close it. */
  digester: CheckedDigester;
  /** Bytes fetched over the network in this call (resume keeps this under the size). */
  fetchedBytes: number;
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

function failed(message: string, cause?: unknown): OtaError {
  return new OtaError('DOWNLOAD_FAILED', redactUrlSecrets(message).slice(0, 120), { cause });
}

const cancelled = () => new OtaError('CANCELLED', 'download cancelled');
const pastDeadline = (d: DownloadInput, onDisk: number) => failed(`not downloaded within ${d.limits.deadlineSec} s (downloadDeadlineSec); ${onDisk} of ${d.size} bytes`);

export async function downloadFile(d: DownloadInput): Promise<DownloadResult> {
  const current = { digester: d.newDigester() };
  try {
    const result = await runAttempts(d, current);
    // Its worker finishes now, not when the last file of the package is in.
    result.digester.seal();
    return result;
  } catch (err) {
    // No one will check it: let go of its worker.
    current.digester.close();
    throw err;
  }
}

async function runAttempts(d: DownloadInput, current: { digester: CheckedDigester }): Promise<DownloadResult> {
  const file = basename(d.partPath);
  let onDisk = await rehashPartial(d, current.digester);
  // The most the part file ever held: getting past it is progress, whatever the server did.
  let highWater = onDisk;
  let fetchedBytes = 0;
  for (;;) {
    if (d.signal.aborted) throw cancelled();
    if (onDisk === d.size) return { digester: current.digester, fetchedBytes };
    if (d.clock.now() >= d.limits.deadlineAtMs) throw pastDeadline(d, onDisk);
    let problem = 'no attempt made';
    let progressed = false;
    let restarted = false;
    let res;
    try {
      res = await d.fetcher(d.url, { rangeStart: onDisk, timeoutMs: d.limits.timeoutMs, signal: d.signal });
    } catch (err) {
      if (err instanceof OtaError) throw failed(err.message, err);
      if (d.signal.aborted) throw cancelled();
      res = undefined;
      problem = `network error: ${errorMessage(err)}`;
    }
    if (res) {
      if (res.status === 200 && onDisk > 0) {
        // The server ignored the Range: start over from byte 0 (what we had counts as the high water).
        d.log.warn({ file, offset: onDisk }, 'server ignored the Range request; downloading from byte 0');
        onDisk = await startOver(d, current);
        restarted = true;
      } else if (res.status === 206) {
        const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        if (!m || Number(m[1]) !== onDisk) {
          res.body.destroy();
          throw failed(`server answered a different range (${String(res.headers['content-range'])}) than asked (from ${onDisk})`);
        }
      } else if (res.status !== 200) {
        res.body.destroy();
        if (!RETRYABLE_STATUS.has(res.status)) throw failed(`download refused: HTTP ${res.status}`);
      }
      if (res.status === 200 || res.status === 206) {
        const before = onDisk;
        const got = await receive(d, res, onDisk, current.digester);
        if (got.changed !== undefined) {
          // A failed attempt (nothing written): a part file that keeps changing must not keep the download going.
          problem = `the part file changed under the download (it held ${got.changed} bytes, not ${onDisk})`;
          d.log.warn({ file, offset: onDisk, held: got.changed }, 'part file changed under the download; downloading from byte 0');
          onDisk = await startOver(d, current);
        } else {
          onDisk = got.onDisk;
          fetchedBytes += onDisk - before;
          if (d.signal.aborted) throw cancelled();
          if (got.stop === 'deadline') throw pastDeadline(d, onDisk);
          if (onDisk === d.size) return { digester: current.digester, fetchedBytes };
          problem = got.stop === 'slow'
            ? `slower than ${d.limits.minBytesPerSec} B/s over ${d.limits.rateWindowMs / 1000} s (downloadMinBytesPerSec) at ${onDisk} bytes`
            : `connection lost after ${onDisk} bytes: ${got.cut ?? 'response ended early'}`;
          // Progress is a resumed attempt that got further than ever. A slow one is not (a dripping
          // server must use up the retries), nor a restart from 0 (a server that ignores Range).
          progressed = got.stop !== 'slow' && !restarted && onDisk > highWater;
          highWater = Math.max(highWater, onDisk);
          d.log.warn({ file, offset: onDisk, size: d.size, reason: problem }, 'download interrupted');
        }
      } else {
        problem = `HTTP ${res.status}`;
      }
    }
    if (!progressed) {
      d.attempts.failedAttempts++;
      await d.onAttemptFailed();
      if (d.attempts.failedAttempts > d.limits.retries) throw failed(`download failed after ${d.limits.retries} retries: ${problem}`);
    }
    const waitMs = Math.min(backoffDelayMs(Math.max(0, d.attempts.failedAttempts - 1), d.limits.backoffBaseMs, d.limits.backoffMaxMs), Math.max(0, d.limits.deadlineAtMs - d.clock.now()));
    d.log.warn({ file, offset: onDisk, failedAttempts: d.attempts.failedAttempts, retries: d.limits.retries, waitMs }, 'download retrying');
    await d.sleep(waitMs);
  }
}

interface Received {
  onDisk: number;
  /** Why the body ended early, when the connection broke. */
  cut?: string;
  /** An end we forced: too slow, or past the deadline. */
  stop?: 'slow' | 'deadline';
  /** The part file did not hold the `start` bytes this attempt was to append to: its size then (nothing written). */
  changed?: number;
}

/** Append the body to the part file; resolves with exactly what is on disk (fsynced) when the body ends or breaks. */
async function receive(d: DownloadInput, res: FetchResponse, start: number, digester: CheckedDigester): Promise<Received> {
  const body = res.body;
  const out: Received = { onDisk: start };
  let fh: FileHandle;
  try {
    fh = await open(d.partPath, 'a', 0o600);
  } catch (err) {
    body.destroy();
    throw writeFailed(err);
  }
  // Something outside the agent removed, cut or grew the part file since the last attempt: appending
  // would leave a file that is not the bytes the digest was given.
  const held = await fh.stat().then((s) => s.size, () => -1);
  if (held !== start) {
    body.destroy();
    await fh.close().catch(() => undefined);
    return { onDisk: start, changed: held };
  }
  const stopWith = (why: 'slow' | 'deadline', text: string) => { out.stop ??= why; body.destroy(new Error(text)); };
  let windowBytes = 0;
  const windowBytesMin = (d.limits.minBytesPerSec * d.limits.rateWindowMs) / 1000;
  const rateCheck = () => {
    if (windowBytes < windowBytesMin) return stopWith('slow', 'too slow');
    windowBytes = 0;
    rateTimer = d.clock.setTimer(d.limits.rateWindowMs, rateCheck);
  };
  let rateTimer = windowBytesMin > 0 ? d.clock.setTimer(d.limits.rateWindowMs, rateCheck) : undefined;
  const deadlineTimer = d.clock.setTimer(d.limits.deadlineAtMs - d.clock.now(), () => stopWith('deadline', 'deadline'));
  const onAbort = () => body.destroy(new Error('cancelled'));
  d.signal.addEventListener('abort', onAbort, { once: true });
  let fatal: OtaError | undefined;
  let received = start;
  const writer = new PartWriter(fh, start, digester, (onDisk) => {
    out.onDisk = onDisk;
    d.onBytes(onDisk);
  }, res.release, blockBytesFor(d.size - start));
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (received + chunk.length > d.size) throw failed(`server sent more than the ${d.size} bytes the notice declared`);
      received += chunk.length;
      windowBytes += chunk.length;
      // Only what is written feeds the digest (the writer sees to it), so the digest always matches the part file.
      // A list is written on this thread, as slowly as the disk takes it once the kernel throttles dirty
      // pages, and libuv reads a socket up to 32 times per event-loop turn: without a turn after each
      // list, the MQTT channel, the timers and a stop would wait for up to 32 lists (8 s at 4 MB/s).
      if (writer.push(chunk)) await nextTurn();
    }
  } catch (err) {
    if (err instanceof OtaError) fatal = err;
    else out.cut = errorMessage(err);
  } finally {
    rateTimer?.cancel();
    deadlineTimer.cancel();
    d.signal.removeEventListener('abort', onAbort);
    body.destroy();
    try {
      // What arrived before a cut is kept: it is written (and digested) before the part file closes.
      await writer.flush();
    } catch (err) {
      fatal ??= err instanceof OtaError ? err : writeFailed(err);
    }
    try {
      await fh.sync();
    } catch (err) {
      fatal ??= writeFailed(err);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
  if (fatal) throw fatal;
  return out;
}
