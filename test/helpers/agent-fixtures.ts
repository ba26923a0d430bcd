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

export async function testAgent(lab: Lab, deviceName: string, overrides: Partial<AgentConfigInput> = {}, deps: { clock?: Clock } = {}): Promise<Agent> {
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
  const log = createLogger({ name: `agent-${deviceName}`, level: 'debug', destination: { write: (l: string) => { AGENT_LOG.push(l); } } });
  return startAgent(config, { log, ...deps });
}

/** The progress steps the lab saw for a device's latest task, in order. */
export function recordProgress(lab: Lab, deviceName: string): number[] {
  const seen: number[] = [];
  lab.engine.events.on('task', (t: { deviceName: string; status: string; progress: number }) => {
    if (t.deviceName === deviceName && t.status === 'IN_PROGRESS' && seen[seen.length - 1] !== t.progress) seen.push(t.progress);
  });
  return seen;
}
