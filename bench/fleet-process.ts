// Many agents in one process for the fleet benchmark: each is the agent's own code (startAgent) with its
// own MQTT connection, work dir and state, installing by simulation. Input: a JSON file named in argv[2].
// Reports one JSON line on stdout when every agent is connected ("ready") and one when every agent has
// finished an upgrade ("done"), each with this process's memory. Stops on SIGTERM.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAgentConfig } from '../agent/agent-config.js';
import { startAgent, type Agent } from '../agent/agent.js';
import { silentLogger } from '../shared/logger.js';
import type { LabConnection } from '../shared/lab-connection.js';
import { memoryMiB } from './bench-support.js';

interface FleetInput { conn: LabConnection; workRoot: string; connectConcurrency: number }

const input = JSON.parse(await readFile(process.argv[2] ?? '', 'utf8')) as FleetInput;
const say = async (event: string, extra: Record<string, unknown> = {}) => {
  global.gc?.();
  process.stdout.write(`${JSON.stringify({ event, ...(await memoryMiB(process.pid)), ...extra })}\n`);
};

await say('base');
const log = silentLogger();
const agents: Agent[] = [];
let finished = 0;
let failed = 0;
const devices = input.conn.devices;
const startedMs = Date.now();
const settled = () => { if (finished + failed === devices.length) void say('done', { finished, failed }); };
// Connect in waves, as a fleet powering up would; every agent still gets its own connection.
for (let i = 0; i < devices.length; i += input.connectConcurrency) {
  const wave = devices.slice(i, i + input.connectConcurrency).map(async (d) => {
    const config = parseAgentConfig({
      productKey: input.conn.productKey, deviceName: d.deviceName, deviceSecret: d.deviceSecret, mqttUrl: input.conn.mqttUrl, tls: false,
      allowInsecureHttp: true, simulateInstall: true, workDir: join(input.workRoot, d.deviceName), modules: [{ name: 'default', version: '1.0.0' }], logLevel: 'silent',
    }, 'fleet');
    const agent = await startAgent(config, { log });
    agent.events.on('done', () => { finished++; settled(); });
    agent.events.on('failed', () => { failed++; settled(); });
    agents.push(agent);
  });
  await Promise.all(wave);
}
await say('ready', { agents: agents.length, connectMs: Date.now() - startedMs });

process.on('SIGTERM', () => {
  void Promise.all(agents.map((a) => a.close())).then(() => process.exit(0));
});
