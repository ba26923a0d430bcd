// The broker under abuse: oversized packets are refused from their header, before their bodies are
// buffered, and the lab stays up for everyone else.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { signDeviceCredentials } from '../../shared/device-credentials.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { connectDevice, type TestDevice } from '../helpers/lab-fixtures.js';

let lab: Lab;
const open: TestDevice[] = [];

beforeEach(async () => { lab = await startLab({ deviceCount: 2, throttle: 'off' }); });
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.client.endAsync(true)));
  await lab.close();
});

function rawSocket(): Promise<Socket> {
  const u = new URL(lab.connection.mqttUrl);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port) }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with the bytes the broker sent once it closed the connection. */
function closedByServer(s: Socket): Promise<Buffer> {
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(c));
  s.on('error', () => undefined); // writes after the server's close fail with EPIPE/ECONNRESET
  return new Promise((resolve) => s.once('close', () => resolve(Buffer.concat(got))));
}

/** Keeps sending body bytes until the broker closes the connection; answers how many it took. A
 *  broker that buffers instead of refusing takes them all (the bound is far above what loopback
 *  socket buffers can hold after a refusal), so this waits on the close or the volume, never on time. */
async function feedUntilClosed(s: Socket, closed: Promise<unknown>, maxBytes: number): Promise<number> {
  let isClosed = false;
  void closed.then(() => { isClosed = true; });
  const chunk = Buffer.alloc(256 * 1024, 0x41);
  let sent = 0;
  while (!isClosed && sent < maxBytes) {
    const ok = await new Promise<boolean>((resolve) => s.write(chunk, (err) => resolve(!err)));
    if (!ok) break;
    sent += chunk.length;
  }
  // Still open after all of it: the broker buffered instead of refusing. Hang up ourselves.
  if (!isClosed) s.destroy();
  await closed;
  return sent;
}

const FEED_MAX = 48 * 1024 * 1024;

/** A fixed header declaring `length` bytes of body. */
function fixedHeader(typeByte: number, length: number): Buffer {
  const bytes = [typeByte];
  let n = length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    bytes.push(b);
  } while (n > 0);
  return Buffer.from(bytes);
}

async function roundTrip(name: string): Promise<void> {
  const d = await connectDevice(lab, name);
  open.push(d);
  await d.publish('firmwareGet', { id: 9, params: {} });
  expect(await d.next('/get_reply')).toMatchObject({ id: 9, code: 200 });
}

describe('MQTT packet size cap', () => {
  it('drops a socket whose CONNECT declares 200 MiB, after its header, without waiting for the body', async () => {
    const s = await rawSocket();
    const closed = closedByServer(s);
    s.write(fixedHeader(0x10, 200 * 1024 * 1024));
    expect(await feedUntilClosed(s, closed, FEED_MAX)).toBeLessThan(FEED_MAX);
    expect((await closed).length).toBe(0); // no CONNACK: refused before any login check
    await roundTrip('bench-01');
  });

  it('drops a logged-in device whose PUBLISH declares 100 MB, from the header alone; others are unaffected', async () => {
    const other = await connectDevice(lab, 'bench-02');
    open.push(other);
    const s = await rawSocket();
    const closed = closedByServer(s);
    const creds = signDeviceCredentials({ productKey: lab.connection.productKey, deviceName: 'bench-01', deviceSecret: lab.connection.devices[0]?.deviceSecret ?? '', secureMode: 3 });
    s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: creds.clientId, username: creds.username, password: Buffer.from(creds.password) }));
    const connack = await new Promise<Buffer>((resolve) => s.once('data', resolve));
    expect([...connack]).toEqual([0x20, 2, 0, 0]);
    s.write(fixedHeader(0x30, 100 * 1000 * 1000));
    expect(await feedUntilClosed(s, closed, FEED_MAX)).toBeLessThan(FEED_MAX);
    await other.publish('firmwareGet', { id: 3, params: {} });
    expect(await other.next('/get_reply')).toMatchObject({ id: 3, code: 200 });
  });

  it('reads headers split across any number of TCP segments: a CONNECT sent byte by byte logs in, a split oversized header is refused', async () => {
    const s = await rawSocket();
    const closed = closedByServer(s);
    const creds = signDeviceCredentials({ productKey: lab.connection.productKey, deviceName: 'bench-01', deviceSecret: lab.connection.devices[0]?.deviceSecret ?? '', secureMode: 3 });
    const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: creds.clientId, username: creds.username, password: Buffer.from(creds.password) });
    const subscribe = mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `/ota/device/upgrade/${lab.connection.productKey}/bench-01`, qos: 1 }] });
    const answers: Buffer[] = [];
    const gotBoth = new Promise<void>((resolve) => s.on('data', (c: Buffer) => { answers.push(c); if (Buffer.concat(answers).length >= 4 + 5) resolve(); }));
    for (const byte of Buffer.concat([connect, subscribe])) {
      await new Promise<void>((resolve) => s.write(Buffer.from([byte]), () => setImmediate(resolve)));
    }
    await gotBoth;
    // CONNACK accepted, then SUBACK granting QoS 1.
    expect([...Buffer.concat(answers)]).toEqual([0x20, 2, 0, 0, 0x90, 3, 0, 1, 1]);
    const big = fixedHeader(0x30, 100 * 1000 * 1000);
    for (const byte of big) await new Promise<void>((resolve) => s.write(Buffer.from([byte]), () => setImmediate(resolve)));
    await closed;
  });

  it('refuses a 300 KB publish from a logged-in device and the lab stays up', async () => {
    const a = await connectDevice(lab, 'bench-01');
    open.push(a);
    const dropped = new Promise<void>((resolve) => a.client.once('close', () => resolve()));
    a.client.publish(`/ota/device/inform/${lab.connection.productKey}/bench-01`, Buffer.alloc(300 * 1024, 0x20), { qos: 0 });
    await dropped;
    expect(lab.store.state.devices[0]?.moduleVersions).toEqual({});
    await roundTrip('bench-02');
  });

  it('still takes a publish right at the payload limit', async () => {
    const a = await connectDevice(lab, 'bench-01');
    open.push(a);
    await a.client.publishAsync(`/ota/device/inform/${lab.connection.productKey}/bench-01`, Buffer.alloc(256 * 1024, 0x20), { qos: 1 });
    await a.publish('firmwareGet', { id: 4, params: {} });
    expect(await a.next('/get_reply')).toMatchObject({ id: 4 });
    expect(a.client.connected).toBe(true);
  });
});
