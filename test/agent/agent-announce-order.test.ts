// The agent tells the platform where it starts from before it moves: its version report reaches the
// platform before any progress for a notice, even when the notice arrives the moment it connects,
// before its own SUBACK (the platform delivers a device's notices whether or not it subscribed). A
// proxy holds the SUBACK back so that order happens every run instead of now and then; the order is
// read from what the lab received (its forwarded version and progress messages), not from the agent.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { addFirmware, createVerifyJob, popClient, taskReaches } from '../helpers/lab-fixtures.js';
import { observeLab } from '../helpers/observe-lab.js';
import { AGENT_LOG, expectNoSecretsIn, testAgent } from '../helpers/agent-fixtures.js';
import { PACKET, startHoldProxy, type HoldProxy } from '../helpers/mqtt-hold-proxy.js';

let lab: Lab;
let proxy: HoldProxy;
let agent: Agent | undefined;

beforeEach(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off' });
  proxy = await startHoldProxy(lab.connection.mqttUrl, PACKET.suback);
});
afterEach(async () => {
  await agent?.close();
  agent = undefined;
  await proxy.close();
  await lab.close();
});
afterAll(() => { expectNoSecretsIn(AGENT_LOG); });

/** What the lab received from bench-01, in order: `version V` for an inform, `step N` for a progress. */
async function receivedOrder(): Promise<string[]> {
  const obs = await observeLab(lab);
  return obs.collect((m) => {
    if (m.kind === 'jobStatus' || m.deviceName !== 'bench-01') return undefined;
    if (m.kind === 'version') return `version ${m.body.moduleVersion}`;
    if (m.kind === 'progress') return `step ${m.body.step}`;
    return undefined;
  });
}

/** Starts the agent behind the proxy; resolves once it got the notice and either held it or already
 *  reported progress for it (the order this suite forbids), whichever comes first. The held notice is
 *  known from the agent's log line, used here only as the moment to go on, never asserted on. */
async function startBehindProxy(): Promise<void> {
  const obs = await observeLab(lab);
  const progressed = obs.next((m) => m.kind === 'progress' && m.deviceName === 'bench-01');
  let held: () => void = () => undefined;
  const noticeHeld = new Promise<void>((resolve) => { held = resolve; });
  agent = await testAgent(lab, 'bench-01', { mqttUrl: proxy.url }, { onLog: (line) => { if (line.includes('notice held until')) held(); } });
  await Promise.race([noticeHeld, progressed]);
}

describe('agent: version report before progress', () => {
  it('reports its version before any progress for a notice delivered at connect, before its SUBACK', async () => {
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    // bench-01 never connected: the task has no source version, and the lab pushes the notice at connect.
    const jobId = await createVerifyJob(lab, firmwareId, ['bench-01']);
    const order = await receivedOrder();

    await startBehindProxy();
    proxy.release();
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');

    // The notice reached the agent before its SUBACK did.
    expect(proxy.toClient.indexOf(PACKET.publish)).toBeGreaterThanOrEqual(0);
    expect(proxy.toClient.indexOf(PACKET.publish)).toBeLessThan(proxy.toClient.indexOf(PACKET.suback));
    // The lab heard the version first, then the steps, then the new version.
    expect(order[0]).toBe('version 1.0.0');
    expect(order.slice(1, 2)).toEqual(['step 0']);
    expect(order[order.length - 1]).toBe('version 2.0.0');
    const listed = await popClient(lab).call<{ Data: { SimpleOTATaskInfo: { SrcVersion: string; TaskStatus: string }[] } }>('ListOTATaskByJob', { JobId: jobId });
    expect(listed.Data.SimpleOTATaskInfo).toEqual([expect.objectContaining({ SrcVersion: '1.0.0', TaskStatus: 'SUCCEEDED' })]);
  });

  it('drops a notice held for its version report when it is closed first', async () => {
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    const order = await receivedOrder();

    await startBehindProxy();
    // The SUBACK never comes: the agent never got to report its version, so it must not start.
    const stopped = agent as Agent;
    agent = undefined;
    await stopped.close();
    // Nothing was taken on: no upgrade in the agent's saved state (a notice taken during the close
    // would have started a download that outlives it), and the lab heard no step.
    expect(stopped.store.state.upgrades).toEqual({});
    expect(order.filter((o) => o.startsWith('step'))).toEqual([]);
    expect(lab.store.state.tasks.map((t) => t.status)).toEqual(['NOTIFIED']);
  });
});
