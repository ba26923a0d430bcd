// Kicked by the broker at any moment of an upgrade, the agent still finishes it: messages not yet
// acknowledged when the connection dropped are re-sent after the reconnect (the final inform among
// them), so no upgrade waits forever at "reporting" and the task succeeds.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { addFirmware, createVerifyJob, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, failuresIn, recordReceived, stepReached, testAgent, versionKnown } from '../helpers/agent-fixtures.js';

let lab: Lab | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  await agent?.close();
  await lab?.close();
});
afterAll(() => { expectNoSecretsIn(AGENT_LOG); });

describe('agent across kicks', () => {
  it('finishes every upgrade when the broker kicks it at varied moments of each', async () => {
    lab = await startLab({ deviceCount: 1, throttle: 'off' });
    const received = await recordReceived(lab, 'bench-01');
    agent = await testAgent(lab, 'bench-01', { reconnectBaseMs: 50, reconnectMaxMs: 100 });
    await versionKnown(lab, 'bench-01');
    const id = { productKey: lab.connection.productKey, deviceName: 'bench-01' };
    let kicks = 0;
    for (let i = 1; i <= 12; i++) {
      const version = `2.0.${i}`;
      const done = new Promise<void>((resolve) => { agent?.events.once('done', () => resolve()); });
      const { firmwareId } = await addFirmware(lab, { version });
      // Kick at one of the upgrade's steps in turn (accepted, first progress, installing, reporting).
      const at = [0, 0, 85, 99][i % 4] as number;
      const kicked = stepReached(lab, 'bench-01', at).then(() => { if (lab?.broker?.kick(id)) kicks++; });
      await createVerifyJob(lab, firmwareId, ['bench-01']);
      const task = await Promise.race([taskReaches(lab, 'bench-01', 'SUCCEEDED'), taskReaches(lab, 'bench-01', 'FAILED')]);
      expect(task.status, task.taskDesc).toBe('SUCCEEDED');
      // The agent's own flow ends too (it does not hang on an inform the broker never acknowledged).
      await done;
      await kicked;
    }
    expect(kicks).toBeGreaterThanOrEqual(6);
    expect(failuresIn(received.progress)).toEqual([]);
  });
});
