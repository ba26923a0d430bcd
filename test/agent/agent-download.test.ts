// Downloads against a server that cuts, lies about Range or drips: the resume offset is always the
// part file's size, and every bad server ends in step -2 in bounded attempts and time.
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import type { ManualClock } from '../../shared/clock.js';
import { createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, testAgent } from '../helpers/agent-fixtures.js';
import { addServedFirmware, recordSteps, serveRange, startFirmwareServer, type FirmwareServer } from '../helpers/firmware-server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  expectNoSecretsIn(AGENT_LOG);
});

async function setUp(): Promise<{ lab: Lab; server: FirmwareServer; workDir: string }> {
  const lab = await startLab({ deviceCount: 1, throttle: 'off' });
  cleanup.push(() => lab.close());
  const server = await startFirmwareServer((_req, res) => { res.writeHead(404); res.end(); });
  cleanup.push(() => server.close());
  return { lab, server, workDir: await mkdtemp(join(tmpdir(), 'agent-dl-')) };
}

async function agentOn(lab: Lab, workDir: string, o: Parameters<typeof testAgent>[2] = {}, clock?: ManualClock): Promise<Agent> {
  const agent = await testAgent(lab, 'bench-01', { workDir, ...o }, clock ? { clock } : {});
  cleanup.push(() => agent.close());
  return agent;
}

describe('agent download', () => {
  it('resumes 40 cuts at random offsets from exactly the bytes in the part file, each fetching ≤ 1.1 × size', async () => {
    const { lab, server, workDir } = await setUp();
    await agentOn(lab, workDir);
    await deviceStatus(lab, 'bench-01');
    const size = 4 * 1024 * 1024;
    const content = randomBytes(size);
    const cuts = new Map<string, number>();
    /** For each upgrade: the Range asked after the cut, and the part file's size when it was asked. */
    const resumes = new Map<string, { asked: number; onDisk: number }>();
    server.handler = (req, res, seen) => {
      const version = seen.path.slice(1);
      if (seen.rangeStart === undefined) return serveRange(content, req, res, seen, cuts.get(version));
      // The agent asks only once its part file is closed: what a reader sees now is what it resumes from.
      resumes.set(version, { asked: seen.rangeStart, onDisk: statSync(join(workDir, 'downloads', `default-${version}-0.part`)).size });
      serveRange(content, req, res, seen);
    };
    for (let i = 1; i <= 40; i++) {
      const version = `2.0.${i}`;
      cuts.set(version, 1 + Math.floor(Math.random() * (size - 2)));
      const before = server.requests.length;
      const fw = await addServedFirmware(lab, server, { path: `/${version}`, size, content, version });
      await createVerifyJob(lab, fw, ['bench-01']);
      await taskReaches(lab, 'bench-01', 'SUCCEEDED');
      const mine = server.requests.slice(before);
      // The outage happened: a cut first response, then exactly one resume.
      expect(mine.map((r) => r.rangeStart)).toEqual([undefined, resumes.get(version)?.asked]);
      expect(mine[0]?.bodyBytes).toBe(cuts.get(version));
      const resume = resumes.get(version);
      expect(resume?.asked).toBe(resume?.onDisk);
      expect(resume?.asked).toBeLessThanOrEqual(cuts.get(version) as number);
      const fetched = mine.reduce((n, r) => n + r.bodyBytes, 0);
      expect(fetched).toBeLessThanOrEqual(1.1 * size);
    }
    // Each cut and each retry is logged at warn with the offset.
    const warns = AGENT_LOG.filter((l) => l.includes('"level":40') && /"msg":"download (interrupted|retrying)"/.test(l) && /"offset":\d+/.test(l));
    expect(warns.length).toBeGreaterThanOrEqual(80);
  }, 240_000);
});
