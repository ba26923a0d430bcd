// API budget (issue 4): 20 verify jobs of 10 devices each, watched by one process through one
// limiter; the lab counts every request. Reports the peak requests in any one-second window, the
// requests spent per job, and the time from a job's last task end to its verdict.
import mqtt, { type MqttClient } from 'mqtt';
import { createHash } from 'node:crypto';
import { systemClock } from '../shared/clock.js';
import { signDeviceCredentials } from '../shared/device-credentials.js';
import { silentLogger } from '../shared/logger.js';
import { createOpenApiCall } from '../shared/openapi-client.js';
import { startLab } from '../lab/start-lab.js';
import { connectAppSubscriber, type AppSubscriber } from '../shared/app-subscriber.js';
import { PlatformApi } from '../orchestrator/platform-api.js';
import { RateLimiter } from '../orchestrator/rate-limiter.js';
import { watchJob } from '../orchestrator/watch.js';
import { median, type BenchRow } from './bench-support.js';

/** A minimal simulated bench: answers a notice with four progress steps 1-3 s apart (0.4-1.2 s in a
 *  quick run), then the destination version, so the watchers poll while devices move. */
function simulate(client: MqttClient, pk: string, dn: string, stepMs: number): void {
  client.on('message', (topic, payload) => {
    if (!topic.startsWith('/ota/device/upgrade/')) return;
    const version = (JSON.parse(payload.toString()) as { data: { version: string } }).data.version;
    const send = (topic: string, body: unknown) => { if (client.connected && !client.disconnecting) client.publish(topic, JSON.stringify(body), { qos: 1 }); };
    const step = (n: number) => setTimeout(() => {
      if (n <= 4) {
        send(`/ota/device/progress/${pk}/${dn}`, { id: String(n), params: { step: String(n * 25), desc: n < 4 ? 'downloading' : 'installing' } });
        step(n + 1);
      } else {
        send(`/ota/device/inform/${pk}/${dn}`, { id: '9', params: { version } });
      }
    }, stepMs * (1 + Math.random() * 2));
    step(1);
  });
}

export async function verifyBudgetBench(quick: boolean): Promise<BenchRow[]> {
  const jobs = quick ? 5 : 20;
  const budget = 8;
  const lab = await startLab({ deviceCount: jobs * 10, throttle: 'platform', devicePrefix: 'sim-' });
  let app: AppSubscriber | undefined;
  const clients: MqttClient[] = [];
  try {
    const pk = lab.connection.productKey;
    for (const d of lab.connection.devices) {
      const creds = signDeviceCredentials({ productKey: pk, deviceName: d.deviceName, deviceSecret: d.deviceSecret, secureMode: 3 });
      const c = await mqtt.connectAsync(lab.connection.mqttUrl, { ...creds, keepalive: 300, protocolVersion: 4, reconnectPeriod: 0 });
      c.publish(`/ota/device/inform/${pk}/${d.deviceName}`, JSON.stringify({ id: '0', params: { version: '1.0.0' } }), { qos: 1 });
      simulate(c, pk, d.deviceName, quick ? 400 : 1000);
      clients.push(c);
    }
    // Setup is paced and retried like any client of a throttled platform; it is not measured.
    const setupApi = new PlatformApi({ call: createOpenApiCall({ endpoint: lab.connection.apiEndpoint, regionId: lab.connection.regionId, credentials: lab.connection }), limiter: new RateLimiter(systemClock, 8), clock: systemClock, log: silentLogger(), maxAttempts: 6, backoffBaseMs: 500, backoffMaxMs: 4000 });
    const admin = (action: string, params: Record<string, unknown>) => setupApi.request(action, params);
    const firmwareIds: string[] = [];
    for (let j = 0; j < jobs; j++) {
      const content = Buffer.from(`fw ${j}`);
      const stored = await lab.putFirmwareFile('fw.bin', content);
      const fw = await admin('CreateOTAFirmware', { ProductKey: pk, FirmwareName: `bench-${j}`, DestVersion: `2.0.${j}`, FirmwareUrl: stored.url, FirmwareSign: createHash('sha256').update(content).digest('hex'), SignMethod: 'SHA256', FirmwareSize: content.length });
      firmwareIds.push((fw.Data as { FirmwareId: string }).FirmwareId);
    }
    // When the lab ended each job, from its server-side subscription (the job status notice).
    const endedAt = new Map<string, number>();
    app = await connectAppSubscriber({ mqttUrl: lab.connection.mqttUrl, accessKeyId: lab.connection.accessKeyId, accessKeySecret: lab.connection.accessKeySecret });
    app.on((m) => { if (m.kind === 'jobStatus') endedAt.set(m.jobId, Date.now()); });
    const firstRequest = lab.requests.length;
    const watchStart = Date.now();
    const limiter = new RateLimiter(systemClock, budget);
    // Send times, counted where requests leave this process (what the limiter promises).
    const sentAt: number[] = [];
    const realCall = createOpenApiCall({ endpoint: lab.connection.apiEndpoint, regionId: lab.connection.regionId, credentials: lab.connection });
    const api = new PlatformApi({ call: (action, params) => { sentAt.push(Date.now()); return realCall(action, params); }, limiter, clock: systemClock, log: silentLogger(), maxAttempts: 6, backoffBaseMs: 500, backoffMaxMs: 8000 });
    const pollMinMs = 1000;
    const pollMaxMs = 5000;
    const latencies: number[] = [];
    const intervals: number[] = [];
    let withinInterval = 0;
    // One process running every verify at once, as `ota-verify verify` does for one: create, then watch.
    await Promise.all(firmwareIds.map(async (firmwareId, j) => {
      const names = lab.connection.devices.slice(j * 10, j * 10 + 10).map((d) => d.deviceName);
      const created = await api.request('CreateOTAVerifyJob', { ProductKey: pk, FirmwareId: firmwareId, TargetDeviceName: names }, { retry: false });
      const jobId = (created.Data as { JobId: string }).JobId;
      // When each poll's answer came back: the interval in force at the end is the gap between the
      // last two polls (the shared budget, not the configured minimum, sets it when many jobs run).
      const polls: number[] = [];
      const final = await watchJob({ api, clock: systemClock, log: silentLogger(), jobId, firmwareId, minIntervalMs: pollMinMs, maxIntervalMs: pollMaxMs, unreachableMs: 60_000, settleGraceMs: 60_000, signal: new AbortController().signal, onSnapshot: () => { polls.push(Date.now()); } });
      if (final.firmwareStatus !== 1) throw new Error(`job ${jobId} was not verified`);
      const ended = endedAt.get(jobId);
      if (ended === undefined) throw new Error(`job ${jobId} has a verdict but the lab never ended it`);
      const latency = Date.now() - ended;
      const interval = polls.length >= 2 ? (polls[polls.length - 1] as number) - (polls[polls.length - 2] as number) : pollMinMs;
      latencies.push(latency);
      intervals.push(interval);
      if (latency <= interval) withinInterval++;
    }));
    const reqs = lab.requests.slice(firstRequest).map((r) => r.atMs).sort((a, b) => a - b);
    const peakOf = (times: number[]) => {
      let peak = 0;
      for (let i = 0, j = 0; i < times.length; i++) {
        while ((times[i] as number) - (times[j] as number) >= 1000) j++;
        peak = Math.max(peak, i - j + 1);
      }
      return peak;
    };
    const peak = peakOf(sentAt);
    const labPeak = peakOf(reqs);
    const throttled = lab.requests.slice(firstRequest).filter((r) => r.code.startsWith('Throttling')).length;
    const wallSec = (Date.now() - watchStart) / 1000;
    return [
      { suite: 'verify', metric: `peak API requests in any 1 s, ${jobs} jobs × 10 devices watched by one process`, value: peak, unit: 'req', target: `<= ${budget} (budget)`, met: peak <= budget, note: `counted as sent; the lab counted a peak of ${labPeak} on arrival; ${reqs.length} requests in ${wallSec.toFixed(1)} s; ${throttled} throttled by the lab` },
      { suite: 'verify', metric: 'API requests per job (create included)', value: Math.round((reqs.length / jobs) * 10) / 10, unit: 'req/job', note: [...api.sent].map(([a, n]) => `${a} ${(n / jobs).toFixed(1)}`).join(', ') },
      { suite: 'verify', metric: 'last task end → verdict, median', value: Math.round(median(latencies)), unit: 'ms', target: 'each <= the poll interval in force', met: withinInterval === jobs, note: `${withinInterval}/${jobs} verdicts within their job's poll interval; max ${Math.round(Math.max(...latencies))} ms; interval in force median ${Math.round(median(intervals))} ms (max ${Math.round(Math.max(...intervals))}), set by the budget: ${jobs} jobs × 1 request per poll at ${budget} req/s, plus the verdicts' urgent reads; configured ${pollMinMs}-${pollMaxMs} ms` },
    ];
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await app?.close();
    await lab.close();
  }
}
