// `ota-agent run` and `ota-agent check`.
import { loadAgentConfig, mqttUrlOf, type AgentConfig, type ConfigSources } from '../agent-config.js';
import { startAgent } from '../agent.js';
import { MqttChannel } from '../channel.js';
import { refuseStoppedLab, watchLabOrigin } from '../lab-origin.js';
import { untilSignal } from '../../shared/cli-support.js';
import { systemClock } from '../../shared/clock.js';
import { OtaError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { readLabConnection, type LabConnection } from '../../shared/lab-connection.js';
import { deviceTopic } from '../../shared/topics.js';

function agentLogger(config: AgentConfig): Logger {
  return createLogger({ name: 'ota-agent', level: config.logLevel, secrets: [config.deviceSecret], ...(config.logFormat ? { format: config.logFormat } : {}) });
}

/** The config and, with --lab, the lab.json it is built from, read once: a file whose lab has
 *  stopped is refused after the config's own checks. */
async function loadConfig(sources: ConfigSources): Promise<{ config: AgentConfig; lab?: { file: string; conn: LabConnection } }> {
  if (!sources.labFile) return { config: await loadAgentConfig(sources) };
  const conn = await readLabConnection(sources.labFile);
  const config = await loadAgentConfig({ ...sources, lab: conn });
  await refuseStoppedLab(sources.labFile, conn);
  return { config, lab: { file: sources.labFile, conn } };
}

export async function runAgent(sources: ConfigSources): Promise<number> {
  const { config, lab } = await loadConfig(sources);
  const signalled = untilSignal();
  const log = agentLogger(config);
  const agent = await startAgent(config, { log });
  if (lab) watchLabOrigin(lab.file, lab.conn, config.deviceName, agent.events, log);
  const refused = new Promise<OtaError>((resolve) => agent.events.once('stopped', resolve));
  process.stderr.write(`ota-agent: ${config.deviceName} running; work dir ${config.workDir}\n`);
  const end = await Promise.race([signalled, refused]);
  // Stop cleanly: persist, disconnect; a restart resumes where this left off.
  await agent.close();
  // A refusal is the operator's to fix (exit 3 with its one line); a signal is a normal stop.
  if (end instanceof OtaError) throw end;
  return 0;
}

export async function checkAgent(sources: ConfigSources): Promise<number> {
  const { config } = await loadConfig(sources);
  const log = agentLogger(config);
  const url = mqttUrlOf(config);
  const channel = await MqttChannel.start({
    productKey: config.productKey, deviceName: config.deviceName, url, deviceSecret: config.deviceSecret, signMethod: config.signMethod,
    keepaliveSec: config.keepaliveSec, reconnectBaseMs: 1000, reconnectMaxMs: 1000, maxAuthRefusals: 1, clock: systemClock, log, ...(config.caFile ? { caFile: config.caFile } : {}),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new OtaError('CONNECT_FAILED', `could not connect to ${url} within 20 s (check the endpoint, credentials and CA)`)), 20_000);
      channel.onConnect(() => { clearTimeout(timer); resolve(); });
      // A refused login is final for a check: no point waiting out the 20 s.
      channel.onRefused((err) => { clearTimeout(timer); reject(err); });
    });
    for (const m of config.modules) {
      const { readVersion } = await import('../install-hook.js');
      const version = m.versionCommand ? await readVersion(m.versionCommand, { timeoutSec: config.versionTimeoutSec, secrets: [config.deviceSecret] }) : m.version ?? '0.0.0';
      await channel.publish(deviceTopic('inform', config), { id: '1', params: { version, ...(m.name === 'default' ? {} : { module: m.name }) } }, 1);
      process.stdout.write(`ok: ${config.productKey}/${config.deviceName} connected to ${url}; module ${m.name} reported version ${version}\n`);
    }
  } finally {
    await channel.close();
  }
  return 0;
}
