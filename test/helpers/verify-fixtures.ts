// A lab with benches played by in-process agents, and `ota-verify` run as a user runs it, shared by
// the orchestrator's CLI suites.
import { join } from 'node:path';
import type { ManualClock } from '../../shared/clock.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { deviceStatus } from './lab-fixtures.js';
import { testAgent } from './agent-fixtures.js';
import { BIN, runCliToEnd } from './processes.js';

export interface Bench { lab: Lab; labFile: string; agents: Agent[] }

/** `n` lab devices bench-01…; agents run on the first `running` of them (all by default). */
export async function labWithBenches(dir: string, cleanup: (() => Promise<unknown>)[], n: number, o: {
  lab?: Parameters<typeof startLab>[0]; clock?: ManualClock; agent?: Parameters<typeof testAgent>[2];
  running?: number; versionOf?: (name: string) => string;
} = {}): Promise<Bench> {
  const labFile = join(dir, `lab-${Math.random().toString(36).slice(2)}.json`);
  const lab = await startLab({ deviceCount: n, throttle: 'off', connectionFile: labFile, ...o.lab }, o.clock ? { clock: o.clock } : {});
  cleanup.push(() => lab.close());
  const agents: Agent[] = [];
  for (let i = 1; i <= (o.running ?? n); i++) {
    const name = `bench-${String(i).padStart(2, '0')}`;
    const a = await testAgent(lab, name, { ...(o.versionOf ? { modules: [{ name: 'default', version: o.versionOf(name) }] } : {}), ...o.agent });
    cleanup.push(() => a.close());
    agents.push(a);
    await deviceStatus(lab, name);
  }
  return { lab, labFile, agents };
}

export const runVerify = (labFile: string, firmwareId: string, devices: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
  runCliToEnd(BIN.verify, ['verify', '--lab', labFile, '--firmware-id', firmwareId, '--devices', devices, '--poll-min-ms', '200', '--poll-max-ms', '1000', ...extra], { env });
