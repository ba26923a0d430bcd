// Fleet (issues 6, 15): N agents in one process (the agent's own code, one MQTT connection each)
// against one lab in another process: N/10 verify jobs of 10 devices with a 1 MiB firmware, created
// and watched by ota-verify's own code. Reports the time from the first create to the last verdict,
// each job's create → verdict, the agent process's memory per agent and the lab's peak memory and CPU.
// The lab's API limits are off here: this suite measures the agents and the lab at fleet scale; the
// API budget has its own suite.
//
// Flags: `--fleet-agents=N` (a multiple of 10; default 5,000, quick 200), `--fleet-broker=embedded|mosquitto`
// (default: mosquitto from 4,000 agents, as the platform scales its brokers apart from its engine),
// `--fleet-lab-cpu-prof=DIR` (the lab process writes a V8 CPU profile there; read it with
// `node dist/bench/cpuprofile-summary.js FILE`).
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
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto.js';
import { cpuSec, DIST, median, memoryMiB, startLabProcess, untilVersionsKnown, type BenchRow } from './bench-support.js';

interface FleetLine { event: string; rss: number; peak: number; connectMs?: number; finished?: number; failed?: number }
type Broker = 'embedded' | 'mosquitto';
interface FleetRun { agents: number; broker: Broker; uvThreads: number; profDir?: string | undefined; agentsProfDir?: string | undefined }

/** Jobs running at once, from create to verdict: a CI farm of this many runners, each holding its 10
 *  benches until its verdict, starts the next job when one ends. With every job created at once, 5,000
 *  agents in one process share its one core for all their upgrades and every job ends last (at 1,000
 *  agents, all 100 at once, the median job took 92 % of the run); with runners each job's time is its
 *  own. At 1,000 agents the farm runs every job at once, as before. */
const RUNNERS = 100;
/** Creates in flight at once: a farm's runners start together, and 400 creates queued behind the
 *  lab's MQTT work went past pop-core's 10 s read timeout (how the 4,000 run failed). */
const CREATES_IN_FLIGHT = 16;
/** Every job's verdict must come within this of its create (the issue's target). */
const VERDICT_WITHIN_SEC = 120;
/** libuv threads of the agents' process (`--fleet-uv-threads=N`); see fleetRun. */
const UV_THREADS = 64;
/** A job still open this long after its create fails in its verdict (as `--max-wait` does), so a stuck run reports what it has. */
const RUN_DEADLINE_MS = 3 * 60_000;
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

export async function fleetBench(quick: boolean): Promise<BenchRow[]> {
  const asked = Number(flag('fleet-agents') ?? NaN);
  const agents = Number.isInteger(asked) && asked >= 10 && asked % 10 === 0 ? asked : quick ? 200 : 5000;
  const brokerFlag = flag('fleet-broker');
  if (brokerFlag !== undefined && brokerFlag !== 'embedded' && brokerFlag !== 'mosquitto') throw new Error(`--fleet-broker=${brokerFlag}: expected embedded or mosquitto`);
  const broker: Broker = brokerFlag ?? (agents >= 4000 ? 'mosquitto' : 'embedded');
  const uvThreads = Number(flag('fleet-uv-threads') ?? UV_THREADS);
  const rows = await fleetRun({ agents, broker, uvThreads, profDir: flag('fleet-lab-cpu-prof'), agentsProfDir: flag('fleet-agents-cpu-prof') });
  // The embedded broker stays measured at 1,000 agents beside the full run.
  if (!quick && Number.isNaN(asked) && broker !== 'embedded') rows.push(...(await fleetRun({ agents: 1000, broker: 'embedded', uvThreads })));
  return rows;
}

async function fleetRun(run: FleetRun): Promise<BenchRow[]> {
  const { agents } = run;
  const jobs = agents / 10;
  const dir = await mkdtemp(join(tmpdir(), 'bench-fleet-'));
  let mosquitto: Mosquitto | undefined;
  let lab: Awaited<ReturnType<typeof startLabProcess>> | undefined;
  let fleet: ReturnType<typeof spawn> | undefined;
  try {
    if (run.broker === 'mosquitto') mosquitto = await startMosquitto({ quiet: true, unboundedQueues: true });
    lab = await startLabProcess({ deviceCount: agents, throttle: 'off', devicePrefix: 'fleet-', ...(mosquitto ? { brokerUrl: mosquitto.url } : {}) },
      run.profDir ? ['--cpu-prof', `--cpu-prof-dir=${run.profDir}`] : []);
    const labPid = lab.child.pid as number;
    // The input goes in a file: thousands of device secrets do not fit in argv (E2BIG).
    const inputFile = join(dir, 'fleet-input.json');
    await writeFile(inputFile, JSON.stringify({ conn: lab.conn, workRoot: dir, connectConcurrency: 50 }));
    // Each agent's file work (state writes with fsync, the download's writes, the simulated install's
    // copy) runs on libuv's thread pool: 4 threads by default, shared here by thousands of agents that
    // on their benches would each have their own.
    const env = { ...process.env, UV_THREADPOOL_SIZE: String(run.uvThreads) };
    const child = spawn(process.execPath, ['--expose-gc', ...(run.agentsProfDir ? ['--cpu-prof', `--cpu-prof-dir=${run.agentsProfDir}`] : []), join(DIST, 'bench', 'fleet-process.js'), inputFile], { stdio: ['ignore', 'pipe', 'inherit'], env });
    fleet = child;
    const next = fleetLines(child);

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
    const knownMs = await untilVersionsKnown(call, lab.conn, 120_000);

    // ota-verify's own create-and-watch code for every job, with the limiter out of the way; creates paced.
    const api = new PlatformApi({ call, limiter: new RateLimiter(systemClock, 10_000, {}), clock: systemClock, log: silentLogger(), maxAttempts: 6, backoffBaseMs: 200, backoffMaxMs: 2000 });
    const conn = lab.conn;
    const labCpuBefore = await cpuSec(labPid);
    const brokerCpuBefore = mosquitto ? await cpuSec(mosquitto.pid) : 0;
    const startedMs = Date.now();
    const slots = new Slots(CREATES_IN_FLIGHT);
    const runners = new Slots(RUNNERS);
    const results = await Promise.all(firmwareIds.map(async (firmwareId, j) => {
      const names = conn.devices.slice(j * 10, j * 10 + 10).map((d) => d.deviceName);
      await runners.take();
      try {
        return await runJob(firmwareId, names);
      } finally {
        runners.give();
      }
    }));
    async function runJob(firmwareId: string, names: string[]): Promise<{ status: number | null; sec: number }> {
      await slots.take();
      const createdMs = Date.now();
      let jobId: string;
      try {
        const created = await api.request('CreateOTAVerifyJob', { ProductKey: conn.productKey, FirmwareId: firmwareId, TargetDeviceName: names }, { retry: false });
        jobId = (created.Data as { JobId: string }).JobId;
      } finally {
        slots.give();
      }
      // A bounded run: a job still open at the deadline fails in the verdict (as `--max-wait` does) rather than hanging the bench.
      const final = await watchJob({ api, clock: systemClock, log: silentLogger(), jobId, firmwareId, minIntervalMs: 1000, maxIntervalMs: 5000, unreachableMs: 60_000, settleGraceMs: 60_000, deadlineMs: createdMs + RUN_DEADLINE_MS, productKey: conn.productKey, signal: new AbortController().signal, onSnapshot: () => undefined });
      return { status: final.firmwareStatus, sec: (Date.now() - createdMs) / 1000 };
    }
    const allVerdictsSec = (Date.now() - startedMs) / 1000;
    const labCpu = (await cpuSec(labPid)) - labCpuBefore;
    const brokerCpu = mosquitto ? (await cpuSec(mosquitto.pid)) - brokerCpuBefore : 0;
    // Agents still busy 30 s after the last verdict (a run past its deadline): the row says so, with
    // the agents' process's peak read directly.
    const unfinished = async (): Promise<FleetLine> => ({ event: 'unfinished', ...(await memoryMiB(child.pid as number)) });
    const done = await Promise.race([next('done'), new Promise<null>((r) => setTimeout(() => r(null), 30_000).unref())]) ?? await unfinished();
    const labMem = await memoryMiB(labPid);
    const brokerMem = mosquitto ? await memoryMiB(mosquitto.pid) : undefined;
    const verified = results.filter((r) => r.status === 1).length;
    const perJob = results.map((r) => r.sec);
    const slowest = Math.max(...perJob);
    const perAgentIdleKiB = ((ready.rss - base.rss) * 1024) / agents;
    const perAgentPeakKiB = ((done.peak - base.rss) * 1024) / agents;
    const brokerNote = mosquitto
      ? `devices on mosquitto (the lab runs the engine, API and files; mosquitto peak ${brokerMem?.peak.toFixed(0)} MiB, ${brokerCpu.toFixed(1)} CPU s)`
      : 'devices on the lab\'s embedded broker';
    const label = `${agents} agents, ${jobs} jobs × 10, ${run.broker} broker`;
    return [
      {
        suite: 'fleet', metric: `${label}, 1 MiB: slowest job, create → verdict`, value: Number(slowest.toFixed(1)), unit: 's',
        target: `< ${VERDICT_WITHIN_SEC}, every job verified`, met: slowest < VERDICT_WITHIN_SEC && verified === jobs,
        note: `${verified}/${jobs} verified in ${allVerdictsSec.toFixed(1)} s from the first create to the last verdict, ${done.event === 'done' ? `${done.finished ?? 0} agents upgraded, ${done.failed ?? 0} failed` : `agents still busy 30 s after the ${RUN_DEADLINE_MS / 60_000}-minute deadline`}; create → verdict per job median ${median(perJob).toFixed(1)} s, max ${slowest.toFixed(1)} s; ${Math.min(RUNNERS, jobs)} jobs at once (a farm of ${RUNNERS} runners), ${CREATES_IN_FLIGHT} creates in flight at most, watched at a 1 s poll with the API limits off; ${run.uvThreads} libuv threads in the agents' process; lab ${labCpu.toFixed(1)} CPU s over the run; ${agents} connections in ${((ready.connectMs ?? 0) / 1000).toFixed(1)} s, every version known ${(knownMs / 1000).toFixed(1)} s later; ${brokerNote}`,
      },
      {
        suite: 'fleet', metric: `${label}: memory per agent, peak during the upgrades (idle connected)`, value: Math.round(perAgentPeakKiB), unit: 'KiB', target: '< 1024', met: perAgentPeakKiB < 1024,
        note: `agent process: ${base.rss.toFixed(0)} MiB before the agents, ${ready.rss.toFixed(0)} MiB with ${agents} connected (${Math.round(perAgentIdleKiB)} KiB each), peak ${done.peak.toFixed(0)} MiB`,
      },
      {
        suite: 'fleet', metric: `${label}: lab process peak RSS`, value: Math.round(labMem.peak), unit: 'MiB', target: '< 1024', met: labMem.peak < 1024,
        note: `${labMem.rss.toFixed(0)} MiB at the end; ${brokerNote}`,
      },
    ];
  } finally {
    if (fleet?.pid !== undefined && fleet.exitCode === null && fleet.signalCode === null) {
      const exited = new Promise((r) => fleet?.once('exit', r));
      fleet.kill('SIGTERM');
      await exited;
    }
    await lab?.stop();
    await mosquitto?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The fleet process's JSON lines: `next(event)` resolves with the first line of that event, or rejects if the process exits first. */
function fleetLines(fleet: ReturnType<typeof spawn>): (event: string) => Promise<FleetLine> {
  const lines: FleetLine[] = [];
  const waiters: { event: string; resolve: (l: FleetLine) => void }[] = [];
  createInterface({ input: fleet.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    const line = JSON.parse(text) as FleetLine;
    lines.push(line);
    for (const w of waiters.filter((x) => x.event === line.event)) w.resolve(line);
  });
  const exited = new Promise<never>((_, reject) => {
    fleet.once('exit', (code) => reject(new Error(`the fleet process exited with ${code}`)));
    fleet.once('error', reject);
  });
  exited.catch(() => undefined); // only a race loser once the bench stops it
  return (event) => Promise.race([exited, new Promise<FleetLine>((resolve) => {
    const seen = lines.find((l) => l.event === event);
    if (seen) resolve(seen);
    else waiters.push({ event, resolve });
  })]);
}

/** At most `n` holders at once; the others wait in order. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(n: number) { this.#free = n; }
  async take(): Promise<void> {
    if (this.#free > 0) { this.#free--; return; }
    await new Promise<void>((r) => this.#waiting.push(r));
  }
  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
