// Agent soak (issue 10): one agent process runs 100 upgrades in a row against the lab; its live heap
// after GC is read at upgrade 10 and upgrade 100. A bench agent runs for months, so the growth per
// upgrade (per-message leaks included: each upgrade publishes a dozen MQTT messages) must be ~0.
// "Live heap" is counted from heap snapshots without V8's compiled code (see objectBytes); the whole
// heapUsed is in the note.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startLab } from '../lab/start-lab.js';
import { connectAppSubscriber } from '../shared/app-subscriber.js';
import type { AppMessage } from '../shared/app-subscription.js';
import { createOpenApiCall } from '../shared/openapi-client.js';
import { DIST, type BenchRow } from './bench-support.js';

/** Bytes of a heap snapshot's nodes that are not V8's own compiled code and metadata: the objects a
 *  program keeps. JIT output grows for a while as functions get optimised, and is not a leak. */
async function objectBytes(file: string): Promise<number> {
  const snap = JSON.parse(await readFile(file, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[] };
  const { node_fields: fields, node_types: [types] } = snap.snapshot.meta;
  const typeAt = fields.indexOf('type');
  const sizeAt = fields.indexOf('self_size');
  let bytes = 0;
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + typeAt] as number];
    if (type !== 'code' && type !== 'hidden') bytes += snap.nodes[i + sizeAt] as number;
  }
  return bytes;
}

interface SoakLine { event: string; n?: number; heapUsed?: number; step?: number }

export async function agentSoakBench(quick: boolean): Promise<BenchRow[]> {
  const upgrades = quick ? 60 : 100;
  const early = 10;
  const dir = await mkdtemp(join(tmpdir(), 'bench-soak-'));
  const lab = await startLab({ deviceCount: 1, throttle: 'off' });
  const conn = lab.connection;
  // The bench watches the lab as an application does: through its server-side subscription.
  const app = await connectAppSubscriber({ mqttUrl: conn.mqttUrl, accessKeyId: conn.accessKeyId, accessKeySecret: conn.accessKeySecret });
  const forwarded = (fn: (m: AppMessage) => boolean) => new Promise<void>((resolve) => {
    const off = app.on((m) => { if (fn(m)) { off(); resolve(); } });
  });
  const child = spawn(process.execPath, ['--expose-gc', join(DIST, 'bench', 'agent-soak-process.js'), JSON.stringify({ conn, workDir: join(dir, 'work') })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: SoakLine[] = [];
  const waiters: { match: (l: SoakLine) => boolean; resolve: (l: SoakLine) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as SoakLine;
    // Each line is taken once: by the waiter for it, or later by the first next() that matches it.
    const w = waiters.find((x) => x.match(line));
    if (w) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); } else lines.push(line);
  });
  const exited = new Promise<never>((_, reject) => { child.once('exit', (code) => reject(new Error(`the soak agent exited with ${code}`))); });
  exited.catch(() => undefined);
  const next = (match: (l: SoakLine) => boolean) => Promise.race([exited, new Promise<SoakLine>((resolve) => {
    const seen = lines.find(match);
    if (seen) { lines.splice(lines.indexOf(seen), 1); resolve(seen); } else waiters.push({ match, resolve });
  })]);
  const taskSucceeded = (destVersion: string) => forwarded((m) => m.kind === 'upgrade' && m.body.destVersion === destVersion && m.body.status === 'SUCCEEDED');
  const heap = async (at: number) => {
    const file = join(dir, `heap-${at}.heapsnapshot`);
    child.stdin.write(`heap ${file}\n`);
    const heapUsed = (await next((l) => l.event === 'heap')).heapUsed ?? NaN;
    const objects = await objectBytes(file);
    await rm(file, { force: true });
    return { heapUsed, objects };
  };
  try {
    const content = randomBytes(64 * 1024);
    const stored = await lab.putFirmwareFile('soak.bin', content);
    const call = createOpenApiCall({ endpoint: conn.apiEndpoint, regionId: conn.regionId, credentials: conn });
    const sign = createHash('sha256').update(content).digest('hex');
    // The lab must know the version before the first job (else the first inform fails it).
    const informed = forwarded((m) => m.kind === 'version');
    if (!lab.store.state.devices[0]?.moduleVersions.default) await informed;
    let atEarly = { heapUsed: NaN, objects: NaN };
    const startedMs = Date.now();
    for (let i = 1; i <= upgrades; i++) {
      const fw = await call('CreateOTAFirmware', { ProductKey: conn.productKey, FirmwareName: `soak-${i}`, DestVersion: `2.0.${i}`, FirmwareUrl: stored.url, FirmwareSign: sign, SignMethod: 'SHA256', FirmwareSize: content.length });
      await call('CreateOTAVerifyJob', { ProductKey: conn.productKey, FirmwareId: (fw.Data as { FirmwareId: string }).FirmwareId, TargetDeviceName: [conn.devices[0]?.deviceName] });
      const succeeded = taskSucceeded(`2.0.${i}`);
      const line = await next((l) => l.event === 'done' || l.event === 'failed');
      if (line.event === 'failed') throw new Error(`upgrade ${i} failed with step ${line.step}`);
      await succeeded;
      if (i === early) atEarly = await heap(i);
    }
    const atEnd = await heap(upgrades);
    const perUpgrade = (atEnd.objects - atEarly.objects) / (upgrades - early);
    const perUpgradeAll = (atEnd.heapUsed - atEarly.heapUsed) / (upgrades - early);
    const sec = (Date.now() - startedMs) / 1000;
    const kib = (b: number) => (b / 1024).toFixed(0);
    return [{
      suite: 'agent', metric: `soak: live heap growth per upgrade (objects, after GC), ${upgrades} upgrades in one agent`, value: Math.round(perUpgrade), unit: 'B', target: '< 1024',
      met: perUpgrade < 1024,
      note: `objects ${kib(atEarly.objects)} KiB at upgrade ${early}, ${kib(atEnd.objects)} KiB at ${upgrades}; whole heap ${kib(atEarly.heapUsed)} → ${kib(atEnd.heapUsed)} KiB (${Math.round(perUpgradeAll)} B/upgrade, V8's compiled code warming up included); ${upgrades} upgrades of 64 KiB in ${sec.toFixed(1)} s`,
    }];
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    await app.close();
    await lab.close();
    await rm(dir, { recursive: true, force: true });
  }
}
