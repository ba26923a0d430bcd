// Stopping the agent: close() ends whatever it is doing (a hook that ignores SIGTERM included),
// leaves no timer behind, and the real process exits on SIGTERM even after the broker kicked it.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { ManualClock } from '../../shared/clock.js';
import { addFirmware, createVerifyJob, deviceStatus } from '../helpers/lab-fixtures.js';
import { stepReached, testAgent } from '../helpers/agent-fixtures.js';
import { BIN, processGone, spawnCli } from '../helpers/processes.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

async function setup(opts: { connectionFile?: boolean } = {}): Promise<{ lab: Lab; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'agent-shutdown-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const lab = await startLab({ deviceCount: 1, throttle: 'off', ...(opts.connectionFile ? { connectionFile: join(dir, 'lab.json') } : {}) });
  cleanup.push(() => lab.close());
  return { lab, dir };
}

/** Resolves when the lab received a progress step of at least `pct` from the device. */
function stepAtLeast(lab: Lab, pct: number): Promise<void> {
  return stepReached(lab, 'bench-01', pct);
}

describe('agent shutdown', () => {
  it('close() leaves no timer of its clock pending (the channel\'s give-up timer is cleared)', async () => {
    const { lab } = await setup();
    const clock = new ManualClock(Date.now());
    const agent = await testAgent(lab, 'bench-01', {}, { clock });
    await deviceStatus(lab, 'bench-01');
    await agent.close();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('close() during a hook that ignores SIGTERM ends, and the hook and its child are gone', async () => {
    const { lab, dir } = await setup();
    const pids = join(dir, 'pids');
    const hook = `trap '' TERM; sh -c 'echo $$ >> ${pids}; exec sleep 60' & echo $$ >> ${pids}; echo progress 50; sleep 60`;
    const agent = await testAgent(lab, 'bench-01', { simulateInstall: false, installCommand: hook, workDir: join(dir, 'work') });
    await deviceStatus(lab, 'bench-01');
    const installing = stepAtLeast(lab, 86);
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await installing;
    await agent.close();
    const started = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
    expect(started).toHaveLength(2);
    for (const pid of started) expect(await processGone(pid), `pid ${pid}`).toBe(true);
    // The upgrade is left as it was (installing), for the next start to resume.
    const state = JSON.parse(await readFile(join(dir, 'work', 'agent-state.json'), 'utf8')) as { upgrades: Record<string, { state: string }> };
    expect(state.upgrades.default?.state).toBe('installing');
  });

  it('the agent process exits 0 on SIGTERM after the broker kicked it three times', async () => {
    const { lab, dir } = await setup({ connectionFile: true });
    const agent = spawnCli(BIN.agent, ['run', '--lab', join(dir, 'lab.json'), '--device', 'bench-01', '--work-dir', join(dir, 'work'), '--log-level', 'info']);
    cleanup.push(() => agent.stop('SIGKILL'));
    const id = { productKey: lab.connection.productKey, deviceName: 'bench-01' };
    await deviceStatus(lab, 'bench-01');
    for (let i = 0; i < 3; i++) {
      // Kicked as soon as it is back: its announce (QoS 1) is in flight and stays unacknowledged.
      expect(lab.broker?.kick(id)).toBe(true);
      await deviceStatus(lab, 'bench-01', 'OFFLINE');
      await deviceStatus(lab, 'bench-01');
    }
    // Back online with unacknowledged messages from before the kicks: mqtt.js waits for their acks.
    expect(await agent.stop('SIGTERM')).toBe(0);
  });
});
