// One agent (the agent's own code, startAgent with its real MQTT channel) for the soak benchmark.
// Input: JSON in argv[2] ({ conn, workDir }). Prints one JSON line per finished upgrade
// ({ event: 'done', n }) and, when asked on stdin with a line `heap FILE`, the heap after GC
// ({ event: 'heap', heapUsed }) and a heap snapshot in FILE. Stops on SIGTERM.
import { createInterface } from 'node:readline';
import { writeHeapSnapshot } from 'node:v8';
import { parseAgentConfig } from '../agent/agent-config.js';
import { startAgent } from '../agent/agent.js';
import { silentLogger } from '../shared/logger.js';
import type { LabConnection } from '../shared/lab-connection.js';

const input = JSON.parse(process.argv[2] ?? '{}') as { conn: LabConnection; workDir: string };
const d = input.conn.devices[0];
if (!d || !global.gc) throw new Error('needs a lab device and --expose-gc');
const gc = global.gc;
const config = parseAgentConfig({
  productKey: input.conn.productKey, deviceName: d.deviceName, deviceSecret: d.deviceSecret, mqttUrl: input.conn.mqttUrl, tls: false,
  allowInsecureHttp: true, simulateInstall: true, workDir: input.workDir, modules: [{ name: 'default', version: '1.0.0' }], logLevel: 'silent',
}, 'soak');
const agent = await startAgent(config, { log: silentLogger() });
let n = 0;
agent.events.on('done', () => { process.stdout.write(`${JSON.stringify({ event: 'done', n: ++n })}\n`); });
agent.events.on('failed', (_rec: unknown, step: number) => { process.stdout.write(`${JSON.stringify({ event: 'failed', step })}\n`); });
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, file] = line.trim().split(' ');
  if (cmd !== 'heap' || !file) return;
  // Let whatever the last upgrade left settle (sweeps, acks), then collect fully; the snapshot
  // (itself taken after a full GC) lets the bench tell objects from V8's compiled code.
  setTimeout(() => {
    for (let i = 0; i < 4; i++) gc();
    const heapUsed = process.memoryUsage().heapUsed;
    writeHeapSnapshot(file);
    process.stdout.write(`${JSON.stringify({ event: 'heap', heapUsed })}\n`);
  }, 200);
});
process.on('SIGTERM', () => { void agent.close().then(() => process.exit(0)); });
