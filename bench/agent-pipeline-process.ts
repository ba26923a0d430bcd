// The agent's own download → digest → write path for one file, in its own process so its peak RSS
// and its CPU seconds are its own. argv: url size partPath. Prints one JSON line.
import { rm } from 'node:fs/promises';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { downloadFile } from '../agent/download.js';
import { createHttpFetcher } from '../agent/fetcher.js';
import type { CheckedDigester } from '../agent/verify.js';
import { createDigester } from '../agent/worker-digester.js';

const [url, sizeText, partPath] = process.argv.slice(2) as [string, string, string];
await rm(partPath, { force: true });
const started = process.hrtime.bigint();
const atStart = process.resourceUsage();
let digester: CheckedDigester | undefined;
const log = silentLogger();
const size = Number(sizeText);
await downloadFile({
  url, size, partPath, fetcher: createHttpFetcher({ allowInsecureHttp: true }),
  // The digester the upgrade flow builds for a file of this size.
  newDigester: () => (digester = createDigester({ partPath, sizeBytes: size, signMethod: 'SHA256', signature: undefined, log })),
  limits: { retries: 0, backoffBaseMs: 100, backoffMaxMs: 100, timeoutMs: 30_000, deadlineAtMs: Date.now() + 3_600_000, deadlineSec: 3600, minBytesPerSec: 0, rateWindowMs: 60_000 },
  attempts: { failedAttempts: 0 }, onAttemptFailed: () => Promise.resolve(), clock: systemClock, log,
  signal: new AbortController().signal, sleep: () => Promise.resolve(), onBytes: () => undefined,
});
// The digest is part of the time: on a worker it may still be catching up when the download ends.
let digest = '';
await digester?.check('0'.repeat(64)).catch((err: unknown) => {
  digest = String((err as { found?: string }).found);
});
const sec = Number(process.hrtime.bigint() - started) / 1e9;
const usage = process.resourceUsage();
const cpu = (u: NodeJS.ResourceUsage) => (u.userCPUTime + u.systemCPUTime) / 1e6;
// The download's CPU (every thread, the hash worker's start included), from the same start as the
// wall time: an agent is a long-running process, so Node's own start-up (~0.1 s) and the module
// loading (~0.06 s) are paid once per agent, not per download. The whole process's figure is kept too.
const cpuSec = cpu(usage) - cpu(atStart);
process.stdout.write(`${JSON.stringify({ sec, cpuSec, processCpuSec: cpu(usage), digest, maxRssMiB: usage.maxRSS / 1024 })}\n`);
await rm(partPath, { force: true });
