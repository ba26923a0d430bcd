// In-process agents against a lab, with every log line captured so a suite can assert that no
// secret ever reaches a log.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentConfig, type AgentConfigInput } from '../../agent/agent-config.js';
import { startAgent, type Agent } from '../../agent/agent.js';
import type { Clock } from '../../shared/clock.js';
import { createLogger } from '../../shared/logger.js';
import type { Lab } from '../../lab/start-lab.js';
import { observeLab } from './observe-lab.js';

/** Every line any test agent logged in this worker. */
export const AGENT_LOG: string[] = [];
/** Every secret of every lab an agent was started against in this worker. */
const SECRETS = new Set<string>();

/** No log line may carry a device secret, an AccessKey secret, the admin token or a URL signature. */
export function expectNoSecretsIn(lines: readonly string[]): void {
  for (const line of lines) {
    for (const s of SECRETS) if (line.includes(s)) throw new Error(`a log line carries a secret: ${line.slice(0, 200)}`);
    if (/Signature=(?!\[redacted\])/.test(line)) throw new Error(`a log line carries a URL signature: ${line.slice(0, 200)}`);
  }
}

/** `onLog` sees each log line as it is written: a test may wait on a line as an event (never assert on it). */
export async function testAgent(lab: Lab, deviceName: string, overrides: Partial<AgentConfigInput> = {}, deps: { clock?: Clock; onLog?: (line: string) => void } = {}): Promise<Agent> {
  const c = lab.connection;
  const dev = c.devices.find((d) => d.deviceName === deviceName);
  if (!dev) throw new Error(`no lab device ${deviceName}`);
  for (const d of c.devices) SECRETS.add(d.deviceSecret);
  SECRETS.add(c.accessKeySecret);
  SECRETS.add(c.adminToken);
  const workDir = overrides.workDir ?? await mkdtemp(join(tmpdir(), `agent-${deviceName}-`));
  const config = parseAgentConfig({
    productKey: c.productKey, deviceName, deviceSecret: dev.deviceSecret, mqttUrl: c.mqttUrl, tls: c.mqttUrl.startsWith('mqtts'),
    ...(c.caFile ? { caFile: c.caFile } : {}), allowInsecureHttp: c.allowInsecureHttp, simulateInstall: true, workDir,
    modules: [{ name: 'default', version: '1.0.0' }], backoffBaseMs: 20, backoffMaxMs: 200, reconnectBaseMs: 100, reconnectMaxMs: 500,
    progressMinIntervalMs: 0, logLevel: 'debug', ...overrides,
  }, 'test');
  const { onLog, ...rest } = deps;
  const log = createLogger({ name: `agent-${deviceName}`, level: 'debug', destination: { write: (l: string) => { AGENT_LOG.push(l); onLog?.(l); } } });
  return startAgent(config, { log, ...rest });
}

/** The progress steps of the device's task as the platform forwards them (in order, repeats folded). */
export async function recordProgress(lab: Lab, deviceName: string): Promise<number[]> {
  const seen: number[] = [];
  const obs = await observeLab(lab);
  obs.collect((m) => {
    if (m.kind === 'progress' && m.deviceName === deviceName && m.body.taskId !== undefined && m.body.step >= 0 && seen[seen.length - 1] !== m.body.step) seen.push(m.body.step);
    return undefined;
  });
  return seen;
}

export interface ReceivedProgress {
  deviceName: string;
  module: string;
  step: number;
  desc: string;
}

/** Every progress message the platform received from a device (task or not) and every version it
 *  reported, as the server-side subscription forwards them. */
export async function recordReceived(lab: Lab, deviceName: string): Promise<{ progress: ReceivedProgress[]; informs: { module: string; version: string }[] }> {
  const obs = await observeLab(lab);
  const progress = obs.collect((m) => (m.kind === 'progress' && m.deviceName === deviceName
    ? { deviceName, module: m.body.moduleName, step: m.body.step, desc: m.body.desc } : undefined));
  const informs = obs.collect((m) => (m.kind === 'version' && m.deviceName === deviceName
    ? { module: m.body.moduleName, version: m.body.moduleVersion } : undefined));
  return { progress, informs };
}

/** The failure steps (negative) among what the lab received. */
export function failuresIn(progress: readonly ReceivedProgress[]): { module: string; step: number; desc: string }[] {
  return progress.filter((p) => p.step < 0).map(({ module, step, desc }) => ({ module, step, desc }));
}

/** Resolves with the first failure step the platform receives from the device for `module`. */
export async function failureReceived(lab: Lab, deviceName: string, module = 'default'): Promise<{ step: number; desc: string }> {
  const obs = await observeLab(lab);
  const m = await obs.next((x) => x.kind === 'progress' && x.deviceName === deviceName && x.body.moduleName === module && x.body.step < 0);
  const body = (m as Extract<typeof m, { kind: 'progress' }>).body;
  return { step: body.step, desc: body.desc };
}

/** Resolves once the lab knows the device's version of `module` (an agent's first inform arrived):
 *  a job created after that has the device's source version from the start. */
export async function versionKnown(lab: Lab, deviceName: string, module = 'default'): Promise<void> {
  const obs = await observeLab(lab);
  if (lab.store.state.devices.find((d) => d.deviceName === deviceName)?.moduleVersions[module] !== undefined) return;
  await obs.next((m) => m.kind === 'version' && m.deviceName === deviceName && m.body.moduleName === module);
}

/** Resolves on the next progress step of at least `atLeast` the platform receives from the device. */
export async function stepReached(lab: Lab, deviceName: string, atLeast: number): Promise<void> {
  const obs = await observeLab(lab);
  await obs.next((m) => m.kind === 'progress' && m.deviceName === deviceName && m.body.step >= atLeast);
}

/** Resolves with the next version the device reports for `module` (the forwarded module version report). */
export async function informReceived(lab: Lab, deviceName: string, module = 'default'): Promise<string> {
  const obs = await observeLab(lab);
  const m = await obs.next((x) => x.kind === 'version' && x.deviceName === deviceName && x.body.moduleName === module);
  return (m as Extract<typeof m, { kind: 'version' }>).body.moduleVersion;
}
