// The agent's own download → digest → write path for one file, in its own process so its peak RSS
// and its CPU seconds are its own. argv: url size partPath. Prints one JSON line.
import { rm } from 'node:fs/promises';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { downloadFile } from '../agent/download.js';
import { createHttpFetcher } from '../agent/fetcher.js';
import { FirmwareDigester } from '../agent/verify.js';

const [url, sizeText, partPath] = process.argv.slice(2) as [string, string, string];
await rm(partPath, { force: true });
const started = process.hrtime.bigint();
let digester: FirmwareDigester | undefined;
await downloadFile({
  url, size: Number(sizeText), partPath, fetcher: createHttpFetcher({ allowInsecureHttp: true }),
  // The digester the upgrade flow builds for a file of this size.
  newDigester: () => (digester = new FirmwareDigester('SHA256', undefined)),
  limits: { retries: 0, backoffBaseMs: 100, backoffMaxMs: 100, timeoutMs: 30_000, deadlineAtMs: Date.now() + 3_600_000, deadlineSec: 3600, minBytesPerSec: 0, rateWindowMs: 60_000 },
  attempts: { failedAttempts: 0 }, onAttemptFailed: () => Promise.resolve(), clock: systemClock, log: silentLogger(),
  signal: new AbortController().signal, sleep: () => Promise.resolve(), onBytes: () => undefined,
});
const sec = Number(process.hrtime.bigint() - started) / 1e9;
let digest = '';
try {
  digester?.check('0'.repeat(64));
} catch (err) {
  digest = String((err as { found?: string }).found);
}
const usage = process.resourceUsage();
// CPU of the whole process (every thread), start-up excluded by neither
// side: the yardsticks' CPU includes their process start-up too.
const cpuSec = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
process.stdout.write(`${JSON.stringify({ sec, cpuSec, digest, maxRssMiB: usage.maxRSS / 1024 })}\n`);
await rm(partPath, { force: true });
