// 1,000 mutated and random notices: the agent stays up and connected, runs no hook, logs each one.
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isResumable } from '../../agent/upgrade-state.js';
import { startLab } from '../../lab/start-lab.js';
import { addFirmware, createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, testAgent } from '../helpers/agent-fixtures.js';
import { observeLab } from '../helpers/observe-lab.js';

afterAll(() => { expectNoSecretsIn(AGENT_LOG); });

/** A small seeded PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

const BASE = {
  code: '1000', message: 'success', id: 1,
  data: { size: 1000, version: '9.9.9', url: 'http://127.0.0.1:9/never', signMethod: 'SHA256', sign: 'a'.repeat(64), extData: { k: 'v' } },
};

function mutate(rand: () => number, i: number): string | Buffer {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const weird = (): unknown => pick([null, -1, 0, 1e308, '', 'x'.repeat(5000), [], {}, true, '../../etc/passwd', 'MD5', 'http://evil.invalid/x', { $: 1 }, 'a'.repeat(64), NaN]);
  const n = structuredClone(BASE) as Record<string, unknown> & { data: Record<string, unknown> };
  switch (i % 9) {
    case 0: return Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
    case 1: return JSON.stringify(weird());
    case 2: n.data[pick(Object.keys(n.data))] = weird(); break;
    case 3: delete n.data[pick(Object.keys(n.data))]; break;
    case 4: return JSON.stringify(n).slice(0, Math.floor(rand() * 80));
    case 5: n.data.files = [{ fileName: pick(['../x', 'a/b', '..', 'ok.bin']), fileUrl: pick(['https://x.invalid/f', 'ftp://x/y', 'nonsense']), fileSize: weird(), fileSign: weird() }]; delete n.data.url; break;
    case 6: n.data.signMethod = pick(['crc32', 'SHA1', '', 'sha-256', 'Md5']); n.data.sign = pick(['abc', 'z'.repeat(64), 'A'.repeat(32)]); break;
    case 7: n.data.module = weird(); n.data.size = weird(); break;
    default: n.data = weird() as Record<string, unknown>;
  }
  return JSON.stringify(n);
}

describe('agent under malformed notices', () => {
  it('survives 1,000 of them, runs no hook, logs each, and still upgrades afterwards', async () => {
    const lab = await startLab({ deviceCount: 1, throttle: 'off' });
    const dir = await mkdtemp(join(tmpdir(), 'agent-fuzz-'));
    const marker = join(dir, 'hook-ran');
    const agent = await testAgent(lab, 'bench-01', { simulateInstall: false, installCommand: `touch ${marker}; echo 2.0.0 > ${join(dir, 'v')}`, downloadRetries: 0, modules: [{ name: 'default', versionCommand: `cat ${join(dir, 'v')} 2>/dev/null || echo 1.0.0` }] });
    let phase = 'start';
    let notices = 0;
    onTestFailed(() => { console.error(`phase ${phase}, notices handled ${notices}, tasks ${JSON.stringify(lab.store.state.tasks.map((t) => [t.status, t.taskDesc, t.srcVersion, t.destVersion]))}, upgrade ${JSON.stringify(agent.store.state.upgrades)}; agent log (last 30 lines):\n${AGENT_LOG.slice(-30).join('\n')}`); });
    try {
      await deviceStatus(lab, 'bench-01');
      const handled = new Promise<void>((resolve) => {
        let n = 0;
        agent.events.on('notice', () => { notices = ++n; if (n === 1000) resolve(); });
      });
      const logBefore = AGENT_LOG.length;
      const rand = prng(20261128);
      for (let i = 0; i < 1000; i++) lab.sendRaw('/ota/device/upgrade/a1LabProd01/bench-01', mutate(rand, i));
      phase = 'sent';
      await handled;
      phase = 'handled';
      const noticeLines = AGENT_LOG.slice(logBefore).filter((l) => /"msg":"(notice dropped|notice refused|upgrade accepted|repeat of the running notice ignored|no pending upgrade|notice for the version already installed; informing it)"/.test(l));
      expect(noticeLines.length).toBeGreaterThanOrEqual(1000);
      expect(existsSync(marker)).toBe(false);
      // A junk notice that passed intake (its URL refuses connections) may still be failing: let it end
      // first, or its -2 would land on the real job's task (the platform matches progress by device
      // and module, not by version).
      await new Promise<void>((resolve) => {
        const check = () => {
          const u = agent.store.state.upgrades['default'];
          if (u && isResumable(u.state)) return;
          agent.events.off('failed', check);
          agent.events.off('done', check);
          resolve();
        };
        agent.events.on('failed', check);
        agent.events.on('done', check);
        check();
      });
      phase = 'idle';
      // The refusals' -1 reports are still on their way: the agent publishes them in order on one
      // connection, so once a last refusal (for a module of its own) has reached the lab, every junk
      // report has, and none can land on the real job's task.
      const obs = await observeLab(lab);
      const sentinelSeen = obs.next((m) => m.kind === 'progress' && m.deviceName === 'bench-01' && m.body.moduleName === 'sentinel');
      lab.sendRaw('/ota/device/upgrade/a1LabProd01/bench-01', JSON.stringify({ ...BASE, data: { ...BASE.data, module: 'sentinel' } }));
      await sentinelSeen;
      // Still connected and still able to do the real thing.
      const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
      await createVerifyJob(lab, firmwareId, ['bench-01']);
      phase = 'job created';
      await taskReaches(lab, 'bench-01', 'SUCCEEDED');
      expect(existsSync(marker)).toBe(true);
    } finally {
      await agent.close();
      await lab.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
