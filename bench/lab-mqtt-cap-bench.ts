// The broker under a memory attack (issue 11): three raw sockets each declare a 200 MiB CONNECT and
// stream its body. The lab must refuse them from the header; its RSS is read before and after.
import { connect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { signDeviceCredentials } from '../shared/device-credentials.js';
import { memoryMiB, startLabProcess, type BenchRow } from './bench-support.js';

const DECLARED = 200 * 1024 * 1024;

/** Send a CONNECT header declaring `DECLARED` bytes, then its body until the lab hangs up; answers the bytes the lab took. */
async function oversizedConnect(host: string, port: number): Promise<number> {
  const s: Socket = await new Promise((resolve, reject) => {
    const sock = connect({ host, port }, () => resolve(sock));
    sock.once('error', reject);
  });
  s.on('error', () => undefined);
  let closed = false;
  const gone = new Promise<void>((resolve) => s.once('close', () => { closed = true; resolve(); }));
  // 0x10 = CONNECT; remaining length 200 MiB as an MQTT variable-length integer.
  const header = [0x10];
  for (let n = DECLARED; n > 0; n = Math.floor(n / 128)) header.push((n % 128) | (n >= 128 ? 0x80 : 0));
  s.write(Buffer.from(header));
  const chunk = Buffer.alloc(1024 * 1024);
  let sent = 0;
  while (!closed && sent < DECLARED) {
    if (!(await new Promise<boolean>((resolve) => s.write(chunk, (err) => resolve(!err))))) break;
    sent += chunk.length;
  }
  if (!closed) s.destroy();
  await gone;
  return sent;
}

export async function labMqttCapBench(quick: boolean): Promise<BenchRow[]> {
  const lab = await startLabProcess({ deviceCount: 1, throttle: 'off' });
  try {
    const pid = lab.child.pid as number;
    const u = new URL(lab.conn.mqttUrl);
    const before = await memoryMiB(pid);
    const taken = await Promise.all([0, 1, 2].map(() => oversizedConnect(u.hostname, Number(u.port))));
    const after = await memoryMiB(pid);
    // The lab must still serve a real device afterwards.
    const d = lab.conn.devices[0];
    const creds = signDeviceCredentials({ productKey: lab.conn.productKey, deviceName: d?.deviceName ?? '', deviceSecret: d?.deviceSecret ?? '', secureMode: 3 });
    const client = await mqtt.connectAsync(lab.conn.mqttUrl, { ...creds, keepalive: 60, protocolVersion: 4, reconnectPeriod: 0 });
    await client.endAsync(true);
    const grew = after.rss - before.rss;
    return [{
      suite: 'lab', metric: 'lab RSS growth after 3 oversized CONNECTs (200 MiB declared each)', value: Math.round(grew * 10) / 10, unit: 'MiB',
      target: '< +20 MiB', met: grew < 20,
      note: `${Math.round(before.rss)} → ${Math.round(after.rss)} MiB, peak ${Math.round(after.peak)} MiB; the client got ${taken.map((b) => `${(b / 1048576).toFixed(0)} MiB`).join(', ')} out before the hang-up reached it; a device logged in afterwards${quick ? ' (quick)' : ''}`,
    }];
  } finally {
    await lab.stop();
  }
}
