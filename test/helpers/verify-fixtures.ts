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
  /** ListOTAUnfinishedTaskByDevice's filter form, for a lab that has the option (see startLabWith). */
  unfinishedFilter?: 'task-status' | 'task-status-list';
} = {}): Promise<Bench> {
  const labFile = join(dir, `lab-${Math.random().toString(36).slice(2)}.json`);
  const lab = await startLabWith({ deviceCount: n, throttle: 'off', connectionFile: labFile, ...o.lab }, o.clock, o.unfinishedFilter);
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

/** The lab with its unfinished-task filter set to `filter` when this lab has that option (a lab
 *  without it takes both forms, and the recording proxy then refuses the one under test). */
async function startLabWith(opts: Parameters<typeof startLab>[0], clock: ManualClock | undefined, filter: string | undefined): Promise<Lab> {
  const deps = clock ? { clock } : {};
  if (filter === undefined) return startLab(opts, deps);
  const withFilter: Record<string, unknown> = { ...opts, unfinishedFilter: filter };
  try {
    return await startLab(withFilter, deps);
  } catch (err) {
    if (!/unfinishedFilter|unrecognized/i.test(String(err))) throw err;
    return startLab(opts, deps);
  }
}

export const runVerify = (labFile: string, firmwareId: string, devices: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
  runCliToEnd(BIN.verify, ['verify', '--lab', labFile, '--firmware-id', firmwareId, '--devices', devices, '--poll-min-ms', '200', '--poll-max-ms', '1000', ...extra], { env });
