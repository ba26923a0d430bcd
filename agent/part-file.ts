// The part file on disk, apart from the bytes an attempt appends: room for it before a byte is
// fetched, what a resume finds in it, and emptying it to start over from byte 0.
import { stat, statfs, truncate } from 'node:fs/promises';
import { OtaError } from '../shared/errors.js';
import type { DownloadInput } from './download.js';
import { writeFailed } from './part-writer.js';
import type { CheckedDigester } from './verify.js';

/** Refuse a download the work directory cannot hold (step -2), before fetching a byte. */
export async function ensureFreeSpace(dir: string, needBytes: number): Promise<void> {
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  if (needBytes > free) throw new OtaError('DOWNLOAD_FAILED', `not enough space: need ${needBytes}, free ${free}`, { expected: `${needBytes} free bytes in ${dir}`, found: String(free) });
}

/** Empties the part file for a download from byte 0, with a fresh digest (the old one's worker let go). */
export async function startOver(d: Pick<DownloadInput, 'partPath' | 'newDigester'>, current: { digester: CheckedDigester }): Promise<number> {
  current.digester.close();
  current.digester = d.newDigester();
  // A file that cannot be emptied (removed again, read-only now) is a -2, as a write that fails.
  await truncate(d.partPath, 0).catch((err: unknown) => { throw writeFailed(err); });
  return 0;
}

/** Feed the part file already on disk into a fresh digester; a part larger than the size is discarded. */
export async function rehashPartial(d: Pick<DownloadInput, 'partPath' | 'size' | 'onBytes'>, digester: CheckedDigester): Promise<number> {
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
  await digester.readFile(size);
  d.onBytes(size);
  return size;
}
