// Downloads against a server that cuts, lies about Range or drips: the resume offset is always the
// part file's size, and every bad server ends in step -2 in bounded attempts and time.
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { ManualClock } from '../../shared/clock.js';
import { createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, testAgent } from '../helpers/agent-fixtures.js';
import { addServedFirmware, labWithFirmwareServer, recordSteps, serveRange } from '../helpers/firmware-server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  expectNoSecretsIn(AGENT_LOG);
});

const setUp = () => labWithFirmwareServer(cleanup, 'agent-dl-');

async function agentOn(lab: Lab, workDir: string, o: Parameters<typeof testAgent>[2] = {}, clock?: ManualClock): Promise<Agent> {
  const agent = await testAgent(lab, 'bench-01', { workDir, ...o }, clock ? { clock } : {});
  cleanup.push(() => agent.close());
  return agent;
}

describe('agent download', () => {
  it('resumes 40 cuts at random offsets from exactly the bytes in the part file, fetching only the rest', async () => {
    const { lab, server, workDir } = await setUp();
    await agentOn(lab, workDir);
    await deviceStatus(lab, 'bench-01');
    const size = 4 * 1024 * 1024;
    const content = randomBytes(size);
    const cuts = new Map<string, number>();
    /** For each upgrade: the Range asked after the cut, and the part file's size when it was asked. */
    const resumes = new Map<string, { asked: number; onDisk: number }>();
    const asked = new Map<string, number>();
    server.handler = (req, res, seen) => {
      const version = seen.path.slice(1);
      asked.set(version, (asked.get(version) ?? 0) + 1);
      if (asked.get(version) === 1) return serveRange(content, req, res, seen, cuts.get(version));
      // The agent asks only once its part file is closed: what a reader sees now is what it resumes
      // from (no Range when it holds nothing: bytes still in the socket's buffer when the cut came are lost).
      let onDisk = 0;
      try { onDisk = statSync(join(workDir, 'downloads', `default-${version}-0.part`)).size; } catch { /* not created yet */ }
      resumes.set(version, { asked: seen.rangeStart ?? 0, onDisk });
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
      expect(mine).toHaveLength(2);
      expect(mine[0]?.rangeStart).toBeUndefined();
      expect(mine[0]?.bodyBytes).toBe(cuts.get(version));
      const resume = resumes.get(version);
      expect(resume?.asked).toBe(resume?.onDisk);
      expect(resume?.asked).toBeLessThanOrEqual(cuts.get(version) as number);
      // The resume asked for the rest and nothing more: the bytes the part file held are not fetched again.
      expect(mine[1]?.bodyBytes).toBe(size - (resume?.asked as number));
    }
    // Each cut and each retry is logged at warn with the offset.
    const warns = AGENT_LOG.filter((l) => l.includes('"level":40') && /"msg":"download (interrupted|retrying)"/.test(l) && /"offset":\d+/.test(l));
    expect(warns.length).toBeGreaterThanOrEqual(80);
  }, 240_000);

  it('-2: a server that ignores Range gets downloadRetries attempts in all, counted across a restart', async () => {
    const { lab, server, workDir } = await setUp();
    const steps = await recordSteps(lab, 'bench-01');
    const size = 8 * 1024 * 1024;
    let hold = 4;
    server.handler = (_req, res, seen) => {
      if (server.requests.length === hold) return; // never answered: the agent is stopped while waiting
      res.writeHead(200, { 'content-length': size });
      res.write(Buffer.alloc(256 * 1024, 7), () => res.destroy());
      void seen;
    };
    // A long no-answer timeout: stopping must not wait for it (the request is cancelled).
    const first = await agentOn(lab, workDir, { downloadRetries: 3, downloadTimeoutMs: 600_000 });
    await deviceStatus(lab, 'bench-01');
    const fw = await addServedFirmware(lab, server, { path: '/big', size, version: '2.0.0', sign: 'a'.repeat(64) });
    await createVerifyJob(lab, fw, ['bench-01']);
    await server.requestCount(hold);
    await first.close();
    // What the next start reads: request 1 made progress, 2 and 3 (Range ignored) were failed attempts.
    const saved = JSON.parse(readFileSync(join(workDir, 'agent-state.json'), 'utf8')) as { upgrades: Record<string, { download?: { failedAttempts: number } }> };
    expect(saved.upgrades.default?.download?.failedAttempts).toBe(2);
    hold = 0;
    const before = server.requests.length;
    await agentOn(lab, workDir, { downloadRetries: 3 });
    const task = await taskReaches(lab, 'bench-01', 'FAILED');
    expect(task.taskDesc).toMatch(/^download failed after 3 retries: connection lost after \d+ bytes/);
    expect(steps.at(-1)?.step).toBe(-2);
    expect(server.requests.length - before).toBe(2);
  }, 60_000);

  it.each([
    { rule: 'downloadMinBytesPerSec', config: { downloadMinBytesPerSec: 100, downloadMinRateWindowSec: 10, downloadRetries: 1, downloadDeadlineSec: 7 * 24 * 3600 }, desc: /^download failed after 1 retries: slower than 100 B\/s over 10 s/, requests: 2 },
    { rule: 'downloadDeadlineSec', config: { downloadMinBytesPerSec: 0, downloadDeadlineSec: 60 }, desc: /^not downloaded within 60 s \(downloadDeadlineSec\)/, requests: 1 },
  ])('-2: a server dripping one byte every 1.5 s is ended by $rule', async ({ config, desc, requests }) => {
    const { lab, server, workDir } = await setUp();
    const steps = await recordSteps(lab, 'bench-01');
    const clock = new ManualClock();
    const open: ServerResponse[] = [];
    server.handler = (_req, res) => { res.writeHead(200, { 'content-length': 1000 }); res.flushHeaders(); open.push(res); };
    await agentOn(lab, workDir, config, clock);
    await deviceStatus(lab, 'bench-01');
    const fw = await addServedFirmware(lab, server, { path: '/drip', size: 1000, version: '2.0.0', sign: 'b'.repeat(64) });
    await createVerifyJob(lab, fw, ['bench-01']);
    await server.requestCount(1);
    // Time moves only here: one byte, then 1.5 s, until the lab hears the verdict.
    for (let i = 0; i < 2000 && !steps.some((s) => s.step < 0); i++) {
      const res = open.at(-1);
      if (res && !res.destroyed) res.write(Buffer.from('x'));
      clock.advance(1500);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(steps.at(-1)?.step).toBe(-2);
    expect((await taskReaches(lab, 'bench-01', 'FAILED')).taskDesc).toMatch(desc);
    expect(server.requests.length).toBe(requests);
  }, 120_000);
});
