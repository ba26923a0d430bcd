// Verify job end to end (issue 6): 10 agents, each its own process, and a firmware of 64 MiB through
// a lab in its own process and the `ota-verify` CLI with its defaults. The wall time from spawning
// `ota-verify verify` to its exit is set against the slowest agent's own work in the same round (from
// its "upgrade accepted" to its "upgrade done" log line: download, digest, install, inform). What is
// left is the orchestration overhead: process start, preflight, create, notice, polling, exit; the note
// gives each round's timeline (medians) so a change can be placed.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { createOpenApiCall } from '../shared/openapi-client.js';
import { DIST, median, spread, startLabProcess, untilVersionsKnown, type BenchRow, writeRandom } from './bench-support.js';

interface AgentLine { time: number; msg: string; version?: string }
interface VerifyLine { time: number; msg?: string; mark?: string; action?: string; heldMs?: number; tookMs?: number }
type Phases = Record<string, number>;

/** Where one round's time went, in seconds from the command's spawn (the debug log's time is a call's
 *  end; heldMs is its wait in the limiter, tookMs its round trip). */
function phasesOf(startMs: number, endMs: number, lines: VerifyLine[], work: { accepted: number; done: number }[]): Phases {
  const at = (ms: number | undefined) => (ms === undefined ? NaN : (ms - startMs) / 1000);
  const sentAt = (call: VerifyLine) => call.time - (call.tookMs ?? 0);
  const calls = lines.filter((l) => l.msg === 'api call');
  const first = calls[0];
  const create = calls.find((c) => c.action === 'CreateOTAVerifyJob');
  const lastDone = Math.max(...work.map((w) => w.done));
  const afterDone = calls.filter((c) => sentAt(c) >= lastDone);
  return {
    'node ready': at(lines.find((l) => l.mark === 'node ready')?.time),
    'first call sent': at(first && sentAt(first)),
    'preflight answered': at(calls.filter((c) => c.action !== 'CreateOTAVerifyJob' && create && c.time <= sentAt(create)).at(-1)?.time),
    'create sent': at(create && sentAt(create)),
    'create answered': at(create?.time),
    'first notice taken': at(Math.min(...work.map((w) => w.accepted))),
    'last notice taken': at(Math.max(...work.map((w) => w.accepted))),
    'last agent done': at(lastDone),
    'first call after it sent': at(afterDone[0] && sentAt(afterDone[0])),
    'last call answered': at(calls.at(-1)?.time),
    'exit handler': at(lines.find((l) => l.mark === 'exit')?.time),
    'exit seen': at(endMs),
    'calls': calls.length,
  };
}

function medianPhases(rounds: Phases[]): string {
  const keys = Object.keys(rounds[0] ?? {});
  return keys.map((k) => `${k} ${median(rounds.map((p) => p[k] as number)).toFixed(k === 'calls' ? 0 : 2)}`).join(', ');
}

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

export async function verifyE2eBench(quick: boolean): Promise<BenchRow[]> {
  const sizeMiB = quick ? 16 : 64;
  const rounds = quick ? 1 : 3;
  const dir = await mkdtemp(join(tmpdir(), 'bench-e2e-'));
  const labFile = join(dir, 'lab.json');
  const lab = await startLabProcess({ deviceCount: 10, connectionFile: labFile });
  const agents: ChildProcess[] = [];
  const logs = new Map<string, AgentLine[]>();
  /** Called on every agent log line (see doneLines). */
  const lineWaiters = new Set<() => void>();
  /** Each bench's accepted and done lines for `version`. The platform's SUCCEEDED (and so the
   *  command's exit) comes with the version inform; the agent logs "done" after its self-test, a few
   *  ms later, through a pipe: waited for, up to a bound, never assumed. */
  const doneLines = (version: string, within: number) => new Promise<{ accepted: number; done: number }[]>((resolve, reject) => {
    const names = [...logs.keys()];
    const find = (n: string, msg: string) => (logs.get(n) ?? []).find((l) => l.msg === msg && l.version === version);
    const timer = setTimeout(() => {
      lineWaiters.delete(check);
      const missing = names.filter((n) => !find(n, 'upgrade accepted') || !find(n, 'upgrade done'));
      reject(new Error(`${missing.join(', ')} logged no accepted/done line for ${version} within ${within / 1000} s of the verdict`));
    }, within);
    const check = () => {
      const work = names.map((n) => ({ accepted: find(n, 'upgrade accepted')?.time, done: find(n, 'upgrade done')?.time }));
      if (work.some((w) => w.accepted === undefined || w.done === undefined)) return;
      clearTimeout(timer);
      lineWaiters.delete(check);
      resolve(work as { accepted: number; done: number }[]);
    };
    lineWaiters.add(check);
    check();
  });
  try {
    const call = createOpenApiCall({ endpoint: lab.conn.apiEndpoint, regionId: lab.conn.regionId, credentials: lab.conn });
    const names = lab.conn.devices.map((d) => d.deviceName);
    // The agents boot while the firmware is written and uploaded.
    for (const name of names) {
      const child = spawn(process.execPath, [join(DIST, 'agent', 'cli.js'), 'run', '--lab', labFile, '--device', name, '--work-dir', join(dir, name), '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
      const lines: AgentLine[] = [];
      logs.set(name, lines);
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (text) => {
        try { lines.push(JSON.parse(text) as AgentLine); } catch { /* not a log line */ }
        for (const w of [...lineWaiters]) w();
      });
      agents.push(child);
    }
    const fwFile = join(dir, 'fw.bin');
    await writeRandom(fwFile, sizeMiB * 1024 * 1024);
    const size = (await stat(fwFile)).size;
    const put = await fetch(`${lab.conn.fileServer}/admin/objects/fw.bin`, { method: 'PUT', headers: { authorization: `Bearer ${lab.conn.adminToken}`, 'content-length': String(size) }, body: Readable.toWeb(createReadStream(fwFile)), duplex: 'half' });
    const stored = (await put.json()) as { url: string };
    const sign = await sha256Of(fwFile);
    await untilVersionsKnown(call, lab.conn, 60_000);

    const walls: number[] = [];
    const slowest: number[] = [];
    const before: number[] = [];
    const after: number[] = [];
    const phases: Phases[] = [];
    for (let r = 1; r <= rounds; r++) {
      const version = `2.0.${r}`;
      const fw = await call('CreateOTAFirmware', { ProductKey: lab.conn.productKey, FirmwareName: `e2e-${r}`, DestVersion: version, FirmwareUrl: stored.url, FirmwareSign: sign, SignMethod: 'SHA256', FirmwareSize: size });
      const firmwareId = (fw.Data as { FirmwareId: string }).FirmwareId;
      const startMs = Date.now();
      // The marks preload and the debug log (one line per API call) time the phases; they cost the run
      // a few JSON lines on a pipe.
      const verify = spawn(process.execPath, ['--import', pathToFileURL(join(DIST, 'bench', 'process-marks.js')).href, join(DIST, 'orchestrator', 'cli.js'), 'verify', '--lab', labFile, '--firmware-id', firmwareId, '--devices', names.join(','), '--quiet', '--log-level', 'debug'], { stdio: ['ignore', 'ignore', 'pipe'] });
      const verifyLines: VerifyLine[] = [];
      createInterface({ input: verify.stderr as NodeJS.ReadableStream }).on('line', (text) => {
        try { verifyLines.push(JSON.parse(text) as VerifyLine); } catch { process.stderr.write(`${text}\n`); }
      });
      const closed = new Promise((resolve) => verify.once('close', resolve));
      const code = await new Promise<number | null>((resolve) => verify.once('exit', resolve));
      const endMs = Date.now();
      await closed;
      if (code !== 0) throw new Error(`ota-verify exited ${code} in round ${r}`);
      const work = await doneLines(version, 30_000);
      phases.push(phasesOf(startMs, endMs, verifyLines, work));
      walls.push((endMs - startMs) / 1000);
      slowest.push(Math.max(...work.map((w) => w.done - w.accepted)) / 1000);
      before.push((Math.min(...work.map((w) => w.accepted)) - startMs) / 1000);
      after.push((endMs - Math.max(...work.map((w) => w.done))) / 1000);
    }
    const overheads = walls.map((w, i) => w - (slowest[i] as number));
    const overhead = median(overheads);
    return [{
      suite: 'verify e2e', metric: `10 agent processes × ${sizeMiB} MiB: ota-verify wall time − slowest agent's own work`, value: Number(overhead.toFixed(2)), unit: 's', target: '< 1.5', met: overhead < 1.5,
      note: `overhead per round ${spread(overheads)} s; wall ${median(walls).toFixed(2)} s (${spread(walls)}), slowest agent ${median(slowest).toFixed(2)} s (${spread(slowest)}); ${median(before).toFixed(2)} s from the command's start to the first notice taken (process start, the preflight calls and the create at the default 8 req/s budget), ${median(after).toFixed(2)} s from the last agent's done to the exit (the last poll, early when the benches look about to end, the firmware read, the exit); ${rounds} round(s); timeline (s from the spawn, medians): ${medianPhases(phases)}`,
    }];
  } finally {
    await Promise.all(agents.map((c) => (c.exitCode === null ? new Promise((r) => { c.once('exit', r); c.kill('SIGTERM'); }) : Promise.resolve())));
    await lab.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
