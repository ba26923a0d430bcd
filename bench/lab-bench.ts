// Lab benchmarks (issue 2): signed QueryOTAJob requests per second on loopback with throttling off,
// and the lab process's memory while it holds 1,000 authenticated device connections.
import { Agent, request } from 'node:http';
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { rpcTimestamp, signRpc } from '../shared/api-signing.js';
import { signDeviceCredentials } from '../shared/device-credentials.js';
import type { LabConnection } from '../shared/lab-connection.js';
import { memoryMiB, median, spread, startLabProcess, type BenchRow } from './bench-support.js';

function signedBody(conn: LabConnection, jobId: string): string {
  const p: Record<string, string> = {
    Action: 'QueryOTAJob', JobId: jobId, Format: 'JSON', Version: '2018-01-20', AccessKeyId: conn.accessKeyId,
    SignatureMethod: 'HMAC-SHA1', SignatureVersion: '1.0', SignatureNonce: randomUUID(), Timestamp: rpcTimestamp(Date.now()), RegionId: conn.regionId,
  };
  p.Signature = signRpc('POST', p, conn.accessKeySecret);
  return new URLSearchParams(p).toString();
}

/** `total` signed requests over `concurrency` keep-alive connections; bodies are signed beforehand so the client's own cost stays small. */
async function apiRound(conn: LabConnection, total: number, concurrency: number): Promise<{ perSec: number; failures: number }> {
  const bodies = Array.from({ length: total }, () => signedBody(conn, 'job-none'));
  const url = new URL(conn.apiEndpoint);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  let failures = 0;
  const one = (body: string) => new Promise<void>((resolve) => {
    const req = request({ host: url.hostname, port: url.port, path: '/', method: 'POST', agent, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => { if (!text.includes('iot.ota.InvalidJobId')) failures++; resolve(); });
    });
    req.on('error', () => { failures++; resolve(); });
    req.end(body);
  });
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < bodies.length) await one(bodies[next++] as string);
  }));
  const sec = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  return { perSec: total / sec, failures };
}

export async function labApiBench(quick: boolean): Promise<BenchRow[]> {
  const lab = await startLabProcess({ deviceCount: 1, throttle: 'off' });
  try {
    await apiRound(lab.conn, 500, 16); // warm-up
    const rounds = quick ? 2 : 5;
    const rates: number[] = [];
    let failures = 0;
    for (let i = 0; i < rounds; i++) {
      const r = await apiRound(lab.conn, quick ? 2000 : 5000, 16);
      rates.push(r.perSec);
      failures += r.failures;
    }
    const m = median(rates);
    return [{ suite: 'lab', metric: 'signed QueryOTAJob requests/s (throttling off, 16 connections)', value: Math.round(m), unit: 'req/s', target: '>= 2000', met: m >= 2000 && failures === 0, note: `spread ${spread(rates)}; ${failures} unexpected answers` }];
  } finally {
    await lab.stop();
  }
}

export async function labConnectionsBench(quick: boolean): Promise<BenchRow[]> {
  const n = 1000;
  const lab = await startLabProcess({ deviceCount: n, throttle: 'off', devicePrefix: 'dev-' });
  const clients: MqttClient[] = [];
  try {
    const before = await memoryMiB(lab.child.pid as number);
    const started = Date.now();
    const devices = lab.conn.devices;
    for (let i = 0; i < devices.length; i += 50) {
      await Promise.all(devices.slice(i, i + 50).map(async (d) => {
        const creds = signDeviceCredentials({ productKey: lab.conn.productKey, deviceName: d.deviceName, deviceSecret: d.deviceSecret, secureMode: 3 });
        clients.push(await mqtt.connectAsync(lab.conn.mqttUrl, { ...creds, keepalive: 300, protocolVersion: 4, reconnectPeriod: 0 }));
      }));
    }
    const connectSec = (Date.now() - started) / 1000;
    const held = await memoryMiB(lab.child.pid as number);
    return [
      { suite: 'lab', metric: `lab process RSS holding ${n} authenticated device connections`, value: Math.round(held.rss), unit: 'MiB', target: '< 300', met: held.rss < 300 && clients.length === n, note: `${Math.round(before.rss)} MiB idle; peak ${Math.round(held.peak)} MiB; connected in ${connectSec.toFixed(1)} s${quick ? ' (quick)' : ''}` },
    ];
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await lab.stop();
  }
}
