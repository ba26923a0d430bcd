// Download one file to a part file in the work directory, hashing the bytes as they arrive (never
// holding the file in memory). Resumes with Range from what is on disk, re-hashing it first; retries
// network errors and 5xx with backoff; stops at once when the server sends more than `size`.
import { createReadStream, createWriteStream } from 'node:fs';
import { stat, truncate } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { backoffDelayMs } from '../shared/backoff.js';
import { OtaError, errorMessage } from '../shared/errors.js';
import { redactUrlSecrets } from '../shared/redact.js';
import type { Fetcher } from './fetcher.js';

/** Whatever consumes the bytes besides the file: the digest, and the signature check when configured. */
export interface Digester {
  update(chunk: Buffer): void;
}

export interface DownloadInput {
  url: string;
  size: number;
  partPath: string;
  fetcher: Fetcher;
  newDigester: () => Digester;
  retries: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  signal: AbortSignal;
  onBytes: (bytesOnDisk: number) => void;
}

export interface DownloadResult {
  digester: Digester;
  /** Bytes fetched over the network in this call (resume keeps this under the size). */
  fetchedBytes: number;
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

function failed(message: string, cause?: unknown): OtaError {
  return new OtaError('DOWNLOAD_FAILED', redactUrlSecrets(message).slice(0, 120), { cause });
}

export async function downloadFile(d: DownloadInput): Promise<DownloadResult> {
  let digester = d.newDigester();
  let onDisk = await rehashPartial(d, digester);
  let fetchedBytes = 0;
  let lastError = 'no attempt made';
  for (let attempt = 0; attempt <= d.retries; attempt++) {
    if (d.signal.aborted) throw new OtaError('CANCELLED', 'download cancelled');
    if (attempt > 0) await d.sleep(backoffDelayMs(attempt - 1, d.backoffBaseMs, d.backoffMaxMs));
    if (onDisk === d.size) return { digester, fetchedBytes };
    let res;
    try {
      res = await d.fetcher(d.url, { rangeStart: onDisk, timeoutMs: d.timeoutMs });
    } catch (err) {
      if (err instanceof OtaError) throw failed(err.message, err);
      lastError = `network error: ${errorMessage(err)}`;
      continue;
    }
    if (res.status === 200 && onDisk > 0) {
      // The server ignored the Range: start over from byte 0.
      await truncate(d.partPath, 0);
      onDisk = 0;
      digester = d.newDigester();
    } else if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== onDisk) {
        res.body.destroy();
        throw failed(`server answered a different range (${String(res.headers['content-range'])}) than asked (from ${onDisk})`);
      }
    } else if (res.status !== 200) {
      res.body.destroy();
      lastError = `HTTP ${res.status}`;
      if (RETRYABLE_STATUS.has(res.status)) continue;
      throw failed(`download refused: HTTP ${res.status}`);
    }
    const before = onDisk;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (onDisk + chunk.length > d.size) {
          cb(failed(`server sent more than the ${d.size} bytes the notice declared`));
          return;
        }
        onDisk += chunk.length;
        digester.update(chunk);
        d.onBytes(onDisk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(res.body, tap, createWriteStream(d.partPath, { flags: 'a', highWaterMark: 1024 * 1024 }), { signal: d.signal });
    } catch (err) {
      if (d.signal.aborted) throw new OtaError('CANCELLED', 'download cancelled');
      if (err instanceof OtaError) throw err;
      lastError = `connection lost after ${onDisk} bytes: ${errorMessage(err)}`;
    }
    fetchedBytes += onDisk - before;
    // What reached the disk is the truth after a cut (the tap may be ahead of the file).
    onDisk = (await stat(d.partPath)).size;
    if (onDisk === d.size) return { digester, fetchedBytes };
    if (onDisk < d.size) {
      digester = d.newDigester();
      onDisk = await rehashPartial(d, digester);
      if (attempt === d.retries) break;
      // A cut that made progress does not use up a retry.
      if (onDisk > before) attempt--;
    }
  }
  throw failed(`download failed after ${d.retries} retries: ${lastError}`);
}

/** Feed the part file already on disk into a fresh digester; a part larger than the size is discarded. */
async function rehashPartial(d: DownloadInput, digester: Digester): Promise<number> {
  let size = 0;
  try {
    size = (await stat(d.partPath)).size;
  } catch {
    return 0;
  }
  if (size > d.size) {
    await truncate(d.partPath, 0);
    return 0;
  }
  if (size === 0) return 0;
  for await (const chunk of createReadStream(d.partPath, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) digester.update(chunk);
  d.onBytes(size);
  return size;
}
