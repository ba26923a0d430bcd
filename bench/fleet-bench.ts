// Fleet (issue 6): 1,000 agents in one process (the agent's own code, one MQTT connection each)
// against one lab in another process: 100 verify jobs of 10 devices with a 1 MiB firmware, created and
// watched by ota-verify's own code. Reports the time from the first create to the last verdict and
// the agent process's memory per agent. The lab's API limits are off here: this suite measures the
// agents and the lab at fleet scale; the API budget has its own suite.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createOpenApiCall } from '../shared/openapi-client.js';
import { PlatformApi } from '../orchestrator/platform-api.js';
import { RateLimiter } from '../orchestrator/rate-limiter.js';
import { watchJob } from '../orchestrator/watch.js';
import { DIST, memoryMiB, startLabProcess, untilVersionsKnown, type BenchRow } from './bench-support.js';

interface FleetLine { event: string; rss: number; peak: number; connectMs?: number; finished?: number; failed?: number }

export async function fleetBench(quick: boolean): Promise<BenchRow[]> {
  // `--fleet-agents=N` for a one-off at another scale (hawkBit's simulator documents up to 4,000).
  const asked = Number(process.argv.find((a) => a.startsWith('--fleet-agents='))?.split('=')[1] ?? NaN);
  const agents = Number.isInteger(asked) && asked >= 10 && asked % 10 === 0 ? asked : quick ? 200 : 1000;
  const jobs = agents / 10;
  const dir = await mkdtemp(join(tmpdir(), 'bench-fleet-'));
  const lab = await startLabProcess({ deviceCount: agents, throttle: 'off', devicePrefix: 'fleet-' });
  // The input goes in a file: thousands of device secrets do not fit in argv (E2BIG).
  const inputFile = join(dir, 'fleet-input.json');
  await writeFile(inputFile, JSON.stringify({ conn: lab.conn, workRoot: dir, connectConcurrency: 50 }));
  const fleet = spawn(process.execPath, ['--expose-gc', join(DIST, 'bench', 'fleet-process.js'), inputFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: FleetLine[] = [];
  const waiters: { event: string; resolve: (l: FleetLine) => void }[] = [];
  createInterface({ input: fleet.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as FleetLine;
    lines.push(line);
    for (const w of waiters.filter((x) => x.event === line.event)) w.resolve(line);
  });
  const fleetExited = new Promise<never>((_, reject) => {
    fleet.once('exit', (code) => reject(new Error(`the fleet process exited with ${code}`)));
    fleet.once('error', reject);
  });
  fleetExited.catch(() => undefined); // only a race loser once the bench stops it
  const next = (event: string) => Promise.race([fleetExited, new Promise<FleetLine>((resolve) => {
    const seen = lines.find((l) => l.event === event);
    if (seen) resolve(seen);
    else waiters.push({ event, resolve });
  })]);
  try {
    // One 1 MiB firmware file, registered once per job with its own destination version.
    const content = randomBytes(1024 * 1024);
    const put = await fetch(`${lab.conn.fileServer}/admin/objects/fleet.bin`, { method: 'PUT', headers: { authorization: `Bearer ${lab.conn.adminToken}` }, body: content });
    const stored = (await put.json()) as { url: string };
    const call = createOpenApiCall({ endpoint: lab.conn.apiEndpoint, regionId: lab.conn.regionId, credentials: lab.conn });
    const sign = createHash('sha256').update(content).digest('hex');
    const firmwareIds: string[] = [];
    for (let j = 0; j < jobs; j++) {
      const fw = await call('CreateOTAFirmware', { ProductKey: lab.conn.productKey, FirmwareName: `fleet-${j}`, DestVersion: `2.0.${j}`, FirmwareUrl: stored.url, FirmwareSign: sign, SignMethod: 'SHA256', FirmwareSize: content.length });
      firmwareIds.push((fw.Data as { FirmwareId: string }).FirmwareId);
    }
    const base = await next('base');
    const ready = await next('ready');
    const knownMs = await untilVersionsKnown(call, lab.conn, 60_000);

    // ota-verify's own create-and-watch code for every job at once, with the limiter out of the way.
    const api = new PlatformApi({ call, limiter: new RateLimiter(systemClock, 10_000, {}), clock: systemClock, log: silentLogger(), maxAttempts: 6, backoffBaseMs: 200, backoffMaxMs: 2000 });
    const startedMs = Date.now();
    const verdicts = await Promise.all(firmwareIds.map(async (firmwareId, j) => {
      const names = lab.conn.devices.slice(j * 10, j * 10 + 10).map((d) => d.deviceName);
      const created = await api.request('CreateOTAVerifyJob', { ProductKey: lab.conn.productKey, FirmwareId: firmwareId, TargetDeviceName: names }, { retry: false });
      const jobId = (created.Data as { JobId: string }).JobId;
      const final = await watchJob({ api, clock: systemClock, log: silentLogger(), jobId, firmwareId, minIntervalMs: 1000, maxIntervalMs: 5000, unreachableMs: 60_000, settleGraceMs: 60_000, signal: new AbortController().signal, onSnapshot: () => undefined });
      return final.firmwareStatus;
    }));
    const allVerdictsSec = (Date.now() - startedMs) / 1000;
    const done = await next('done');
    const verified = verdicts.filter((s) => s === 1).length;
    const perAgentIdleKiB = ((ready.rss - base.rss) * 1024) / agents;
    const perAgentPeakKiB = ((done.peak - base.rss) * 1024) / agents;
    const labMem = await memoryMiB(lab.child.pid as number);
    return [
      { suite: 'fleet', metric: `${agents} agents in one process, ${jobs} verify jobs × 10, 1 MiB: first create → last verdict`, value: Number(allVerdictsSec.toFixed(1)), unit: 's', target: agents === 1000 ? '< 60' : '< 60 (at 1,000)', met: allVerdictsSec < 60 && verified === jobs, note: `${verified}/${jobs} verified, ${done.finished ?? 0} agents upgraded, ${done.failed ?? 0} failed; ${agents} connections in ${((ready.connectMs ?? 0) / 1000).toFixed(1)} s, every version known ${(knownMs / 1000).toFixed(1)} s later; watched at a 1 s poll with the API limits off` },
      { suite: 'fleet', metric: 'memory per agent, peak during the upgrades (idle connected)', value: Math.round(perAgentPeakKiB), unit: 'KiB', target: '< 1024', met: perAgentPeakKiB < 1024, note: `agent process: ${base.rss.toFixed(0)} MiB before the agents, ${ready.rss.toFixed(0)} MiB with ${agents} connected (${Math.round(perAgentIdleKiB)} KiB each), peak ${done.peak.toFixed(0)} MiB; the lab process ${labMem.rss.toFixed(0)} MiB (peak ${labMem.peak.toFixed(0)})` },
    ];
  } finally {
    if (fleet.pid !== undefined && fleet.exitCode === null && fleet.signalCode === null) {
      const exited = new Promise((r) => fleet.once('exit', r));
      fleet.kill('SIGTERM');
      await exited;
    }
    await lab.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
