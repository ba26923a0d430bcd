// The lab's server-side subscription as an application sees it: an MQTT login with the AccessKey that
// may only subscribe to the forwarded topics, and every forwarded message byte for byte in the
// platform's documented shapes (docs/platform.md, § Server-side subscription).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { connectAppSubscriber } from '../../shared/app-subscriber.js';
import { APP_TOPIC_FILTERS, signAppCredentials, type AppMessage } from '../../shared/app-subscription.js';
import { ManualClock } from '../../shared/clock.js';
import { addFirmware, connectDevice, createVerifyJob, type TestDevice } from '../helpers/lab-fixtures.js';
import { startMosquitto } from '../helpers/mosquitto.js';

let lab: Lab;
const clients: MqttClient[] = [];
const devices: TestDevice[] = [];
// A manual clock (at the real time: the API checks request timestamps) makes every time field exact.
const T0 = Math.floor(Date.now() / 1000) * 1000;
const T0_UTC = new Date(T0).toISOString();

beforeEach(async () => {
  lab = await startLab({ deviceCount: 2, throttle: 'off' }, { clock: new ManualClock(T0) });
});
afterEach(async () => {
  await Promise.all([...clients.splice(0), ...devices.splice(0).map((d) => d.client)].map((c) => c.endAsync(true)));
  await lab.close();
});

interface Seen { topic: string; json: unknown }

/** An application login with raw mqtt.js; every message it receives, parsed. */
async function application(overrides: { secret?: string; accessKeyId?: string } = {}): Promise<{ client: MqttClient; seen: Seen[]; next: (topic: string) => Promise<unknown> }> {
  const c = lab.connection;
  const creds = signAppCredentials({ accessKeyId: overrides.accessKeyId ?? c.accessKeyId, accessKeySecret: overrides.secret ?? c.accessKeySecret });
  const client = await mqtt.connectAsync(c.mqttUrl, { ...creds, protocolVersion: 4, reconnectPeriod: 0, clean: true });
  clients.push(client);
  const seen: Seen[] = [];
  const taken = new Set<number>();
  const waiters: { topic: string; resolve: (v: unknown) => void }[] = [];
  client.on('message', (topic, payload) => {
    const json: unknown = JSON.parse(payload.toString());
    seen.push({ topic, json });
    const w = waiters.find((x) => x.topic === topic);
    if (w) { taken.add(seen.length - 1); waiters.splice(waiters.indexOf(w), 1); w.resolve(json); }
  });
  const granted = await client.subscribeAsync([...APP_TOPIC_FILTERS], { qos: 1 });
  expect(granted.map((g) => g.qos)).toEqual(APP_TOPIC_FILTERS.map(() => 1));
  return {
    client, seen,
    // The next message on `topic` not yet taken (earlier ones count: they may arrive before the call).
    next: (topic) => {
      const i = seen.findIndex((s, n) => !taken.has(n) && s.topic === topic);
      if (i >= 0) { taken.add(i); return Promise.resolve(seen[i]?.json); }
      return new Promise((resolve) => waiters.push({ topic, resolve }));
    },
  };
}

/** The CONNACK refusal code of a login attempt. */
function refusalCode(username: string, password: string): Promise<number | undefined> {
  const client = mqtt.connect(lab.connection.mqttUrl, { clientId: 'x', username, password, protocolVersion: 4, reconnectPeriod: 0 });
  return new Promise((resolve) => {
    client.once('connect', () => { client.end(true); resolve(0); });
    client.once('error', (err) => { client.end(true); resolve((err as Error & { code?: number }).code); });
  });
}

/** The QoS granted for one filter (128: refused; mqtt.js rejects then, with the SUBACK attached). */
async function grantOf(client: MqttClient, filter: string): Promise<number | undefined> {
  try {
    return (await client.subscribeAsync(filter, { qos: 1 }))[0]?.qos;
  } catch (err) {
    return (err as { packet?: { granted?: number[] } }).packet?.granted?.[0];
  }
}

const iotId = (name: string) => lab.store.state.devices.find((d) => d.deviceName === name)?.iotId;

describe('server-side subscription: the application login', () => {
  it('refuses a wrong signature and an unknown AccessKey with CONNACK 4', async () => {
    const c = lab.connection;
    const good = signAppCredentials({ accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret });
    expect(await refusalCode(good.username, good.password)).toBe(0);
    const wrong = signAppCredentials({ accessKeyId: c.accessKeyId, accessKeySecret: `${c.accessKeySecret}x` });
    expect(await refusalCode(wrong.username, wrong.password)).toBe(4);
    const unknown = signAppCredentials({ accessKeyId: 'LTAInobody', accessKeySecret: c.accessKeySecret });
    expect(await refusalCode(unknown.username, unknown.password)).toBe(4);
    // A signature over another timestamp than the one named.
    expect(await refusalCode(good.username.replace(/timestamp=\d+/, 'timestamp=1'), good.password)).toBe(4);
  });

  it('may not publish: a publish closes the connection and reaches no one', async () => {
    const watcher = await application();
    const app = await application();
    const closed = new Promise<void>((resolve) => app.client.once('close', () => resolve()));
    app.client.publish(`/ota/device/progress/${lab.connection.productKey}/bench-01`, JSON.stringify({ id: 1, params: { step: '-2', desc: 'forged' } }), { qos: 1 });
    await closed;
    // What the platform received next is a real device's step, not the forged one.
    const d = await connectDevice(lab, 'bench-01');
    devices.push(d);
    await d.publish('progress', { id: 2, params: { step: '5', desc: 'real' } });
    const first = await watcher.next(`/${lab.connection.productKey}/bench-01/ota/progress/post`);
    expect(first).toMatchObject({ step: 5, desc: 'real' });
    expect(watcher.seen.filter((s) => s.topic.endsWith('/ota/progress/post'))).toHaveLength(1);
  });

  it('may subscribe only to forwarded topics; a device may not subscribe to them', async () => {
    const app = await application();
    const pk = lab.connection.productKey;
    const filters = ['#', `/ota/device/upgrade/${pk}/bench-01`, '/ota/device/progress/+/+', `/${pk}/bench-01/ota/upgrade`, '/as/mqtt/status/+/#', `/as/mqtt/status/${pk}/+`];
    expect(await Promise.all(filters.map((f) => grantOf(app.client, f)))).toEqual([128, 128, 128, 1, 128, 1]);
    const d = await connectDevice(lab, 'bench-01');
    devices.push(d);
    expect(await grantOf(d.client, `/${pk}/bench-01/ota/upgrade`)).toBe(128);
    expect(await grantOf(d.client, `/as/mqtt/status/${pk}/bench-01`)).toBe(128);
  });
});

describe('server-side subscription: what is forwarded, as the platform documents it', () => {
  it('status, version, progress, upgrade and job notices of every device, in the platform\'s shapes', async () => {
    const app = await application();
    const pk = lab.connection.productKey;
    const t = (name: string, rest: string) => `/${pk}/${name}/${rest}`;
    const d1 = await connectDevice(lab, 'bench-01');
    const d2 = await connectDevice(lab, 'bench-02');
    devices.push(d1, d2);
    for (const name of ['bench-01', 'bench-02']) {
      expect(await app.next(`/as/mqtt/status/${pk}/${name}`)).toEqual({
        status: 'online', iotId: iotId(name), productKey: pk, deviceName: name, time: T0_UTC.replace('T', ' ').replace('Z', ''), utcTime: T0_UTC,
      });
    }
    await d1.publish('inform', { id: 1, params: { version: '1.0.0' } });
    await d2.publish('inform', { id: 1, params: { version: '1.0.0' } });
    expect(await app.next(t('bench-01', 'ota/version/post'))).toEqual({
      iotId: iotId('bench-01'), productKey: pk, deviceName: 'bench-01', moduleName: 'default', moduleVersion: '1.0.0', messageCreateTime: T0,
    });
    await app.next(t('bench-02', 'ota/version/post'));

    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    const jobId = await createVerifyJob(lab, firmwareId, ['bench-01', 'bench-02']);
    const taskOf = (name: string) => lab.store.state.tasks.find((x) => x.jobId === jobId && x.deviceName === name)?.taskId;
    await d1.next(`/ota/device/upgrade/${pk}/bench-01`);
    await d2.next(`/ota/device/upgrade/${pk}/bench-02`);

    await d1.publish('progress', { id: 2, params: { step: '10', desc: 'downloading' } });
    expect(await app.next(t('bench-01', 'ota/progress/post'))).toEqual({
      iotId: iotId('bench-01'), productKey: pk, deviceName: 'bench-01', moduleName: 'default', step: 10, desc: 'downloading', messageCreateTime: T0,
      srcVersion: '1.0.0', destVersion: '2.0.0', jobId, taskId: taskOf('bench-01'),
    });
    await d1.publish('progress', { id: 3, params: { step: '-2', desc: 'download failed' } });
    expect(await app.next(t('bench-01', 'ota/progress/post'))).toMatchObject({ step: -2, desc: 'download failed' });
    expect(await app.next(t('bench-01', 'ota/upgrade'))).toEqual({
      iotId: iotId('bench-01'), productKey: pk, deviceName: 'bench-01', moduleName: 'default', status: 'FAILED', messageCreateTime: T0,
      srcVersion: '1.0.0', destVersion: '2.0.0', desc: 'download failed', jobId, taskId: taskOf('bench-01'),
    });

    await d2.publish('progress', { id: 2, params: { step: '100', desc: '' } });
    await d2.publish('inform', { id: 3, params: { version: '2.0.0' } });
    expect(await app.next(t('bench-02', 'ota/progress/post'))).toMatchObject({ step: 100, taskId: taskOf('bench-02') });
    expect(await app.next(t('bench-02', 'ota/version/post'))).toMatchObject({ moduleVersion: '2.0.0' });
    expect(await app.next(t('bench-02', 'ota/upgrade'))).toEqual({
      iotId: iotId('bench-02'), productKey: pk, deviceName: 'bench-02', moduleName: 'default', status: 'SUCCEEDED', messageCreateTime: T0,
      srcVersion: '1.0.0', destVersion: '2.0.0', desc: '', jobId, taskId: taskOf('bench-02'),
    });
    expect(await app.next(`/${pk}/${firmwareId}/${jobId}/ota/job/status`)).toEqual({
      productKey: pk, packageId: firmwareId, jobId, status: 'COMPLETED', messageCreateTime: T0,
    });

    // A step with no task is forwarded too (what the device sent is observable), without task fields.
    await d2.publish('progress', { id: 4, params: { step: '-1', desc: 'late' } });
    expect(await app.next(t('bench-02', 'ota/progress/post'))).toEqual({
      iotId: iotId('bench-02'), productKey: pk, deviceName: 'bench-02', moduleName: 'default', step: -1, desc: 'late', messageCreateTime: T0,
    });

    await d1.client.endAsync(true);
    expect(await app.next(`/as/mqtt/status/${pk}/bench-01`)).toMatchObject({ status: 'offline', deviceName: 'bench-01' });
  });
});

describe('server-side subscription over an external broker (--broker)', () => {
  it('the engine publishes the forwarded messages on that broker, where an application reads them', async () => {
    const broker = await startMosquitto();
    const ext = await startLab({ deviceCount: 1, throttle: 'off', brokerUrl: broker.url });
    try {
      const c = ext.connection;
      const app = await connectAppSubscriber({ mqttUrl: c.mqttUrl, accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret });
      const got: AppMessage[] = [];
      app.on((m) => { got.push(m); });
      const version = new Promise<void>((resolve) => { app.on((m) => { if (m.kind === 'version') resolve(); }); });
      const device = await mqtt.connectAsync(broker.url, { clientId: 'ext-bench-01', protocolVersion: 4, reconnectPeriod: 0 });
      await device.publishAsync(`/ota/device/inform/${c.productKey}/bench-01`, JSON.stringify({ id: 1, params: { version: '1.0.0' } }), { qos: 1 });
      await version;
      // Online from the first message (no presence over an external broker), then the version report.
      expect(got.map((m) => [m.kind, m.kind === 'status' || m.kind === 'version' ? m.body.deviceName : ''])).toEqual([['status', 'bench-01'], ['version', 'bench-01']]);
      await device.endAsync(true);
      await app.close();
    } finally {
      await ext.close();
      await broker.stop();
    }
  });
});
