// Device authentication and topic permissions of the lab's broker (docs/platform.md § Device connection).
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signDeviceCredentials } from '../../shared/device-credentials.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { addFirmware, connectDevice, createVerifyJob, deviceStatus, taskReaches, wrapDevice, type TestDevice } from '../helpers/lab-fixtures.js';

let lab: Lab;
const open: TestDevice[] = [];

/** Resolves on the client's next `close`, or its `connect` (rejecting on a refused CONNACK). */
function once(client: MqttClient, event: 'close' | 'connect'): Promise<void> {
  return new Promise((resolve, reject) => {
    client.once(event, () => resolve());
    if (event === 'connect') client.once('error', reject);
  });
}

async function connectRaw(opts: mqtt.IClientOptions): Promise<{ code: number | undefined }> {
  const client = mqtt.connect(lab.connection.mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  try {
    await once(client, 'connect');
    return { code: 0 };
  } catch (err) {
    return { code: (err as { code?: number }).code };
  } finally {
    client.end(true);
  }
}

/** The QoS the broker granted; mqtt.js 5 rejects a subscribe whose grant is 128, with the SUBACK attached. */
async function grantedQos(d: TestDevice, topic: string): Promise<number | undefined> {
  try {
    return (await d.client.subscribeAsync(topic, { qos: 1 }))[0]?.qos;
  } catch (err) {
    return (err as { packet?: { granted?: number[] } }).packet?.granted?.[0];
  }
}

function creds(deviceName: string, secret?: string, signMethod: 'hmacmd5' | 'hmacsha1' | 'hmacsha256' = 'hmacsha256') {
  const s = secret ?? lab.connection.devices.find((d) => d.deviceName === deviceName)?.deviceSecret ?? '';
  return signDeviceCredentials({ productKey: lab.connection.productKey, deviceName, deviceSecret: s, signMethod, secureMode: 3 });
}

describe('lab broker', () => {
  beforeEach(async () => { lab = await startLab({ deviceCount: 3, throttle: 'off' }); });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.client.endAsync(true)));
    await lab.close();
  });

  it.each(['hmacmd5', 'hmacsha1', 'hmacsha256'] as const)('accepts a device signing with %s', async (m) => {
    expect(await connectRaw({ ...creds('bench-01', undefined, m), keepalive: 60 })).toEqual({ code: 0 });
  });

  it('answers CONNACK 4 to a wrong secret, an unknown device or a malformed username', async () => {
    expect(await connectRaw({ ...creds('bench-01', 'not-the-secret'), keepalive: 60 })).toEqual({ code: 4 });
    expect(await connectRaw({ ...creds('nobody-here'), keepalive: 60 })).toEqual({ code: 4 });
    expect(await connectRaw({ ...creds('bench-01'), username: 'bench-01', keepalive: 60 })).toEqual({ code: 4 });
  });

  it('refuses a keepalive outside 30-1200 s', async () => {
    expect((await connectRaw({ ...creds('bench-01'), keepalive: 10 })).code).not.toBe(0);
    expect((await connectRaw({ ...creds('bench-01'), keepalive: 1201 })).code).not.toBe(0);
    expect(await connectRaw({ ...creds('bench-01'), keepalive: 1200 })).toEqual({ code: 0 });
  });

  it('kicks the older connection when the same device logs in again', async () => {
    const first = await connectDevice(lab, 'bench-01');
    const closed = once(first.client, 'close');
    const second = await connectDevice(lab, 'bench-01');
    open.push(first, second);
    await closed;
    expect(second.client.connected).toBe(true);
    await deviceStatus(lab, 'bench-01', 'ONLINE');
    // The older connection's close must not mark the device offline: the newer one is live.
    await second.publish('firmwareGet', { id: 1, params: {} });
    await second.next('/get_reply');
    expect(lab.store.state.devices[0]?.status).toBe('ONLINE');
  });

  it('keeps one session per device: a client id imitating another device kicks only its own older login', async () => {
    // The C SDKs' fixed timestamp makes the two raw client ids identical, byte for byte.
    const same = { clientIdBase: 'a1LabProd01.bench-01', timestampMs: 2524608000000, secureMode: 3 as const };
    const secretOf = (dn: string) => lab.connection.devices.find((d) => d.deviceName === dn)?.deviceSecret ?? '';
    const victimCreds = signDeviceCredentials({ productKey: 'a1LabProd01', deviceName: 'bench-01', deviceSecret: secretOf('bench-01'), ...same });
    const imitation = signDeviceCredentials({ productKey: 'a1LabProd01', deviceName: 'bench-02', deviceSecret: secretOf('bench-02'), ...same });
    expect(imitation.clientId).toBe(victimCreds.clientId);
    const opts = { keepalive: 60, protocolVersion: 4 as const, reconnectPeriod: 0 };
    const victim = wrapDevice(await mqtt.connectAsync(lab.connection.mqttUrl, { ...victimCreds, ...opts }), lab, 'bench-01');
    open.push(victim);
    let victimCloses = 0;
    victim.client.on('close', () => { victimCloses++; });
    const impostors: MqttClient[] = [];
    let impostorCloses = 0;
    for (let i = 0; i < 3; i++) {
      const c = await mqtt.connectAsync(lab.connection.mqttUrl, { ...imitation, ...opts });
      c.on('close', () => { impostorCloses++; });
      impostors.push(c);
    }
    // Each newer bench-02 login kicked bench-02's older one, and nothing else.
    await new Promise<void>((resolve) => { const check = () => { if (impostorCloses >= 2) resolve(); }; impostors.forEach((c) => c.on('close', check)); check(); });
    expect(victimCloses).toBe(0);
    expect(victim.client.connected).toBe(true);
    await victim.publish('firmwareGet', { id: 7, params: {} });
    expect(await victim.next('/get_reply')).toMatchObject({ id: 7, code: 200 });
    expect(victimCloses).toBe(0);
    expect(impostors.map((c) => c.connected)).toEqual([false, false, true]);
    await deviceStatus(lab, 'bench-02');
    expect(lab.store.state.devices.find((d) => d.deviceName === 'bench-01')?.status).toBe('ONLINE');
    await Promise.all(impostors.map((c) => c.endAsync(true)));
  });

  it("never lets device A read B's notices or report B's progress", async () => {
    const a = await connectDevice(lab, 'bench-01');
    const b = await connectDevice(lab, 'bench-02');
    open.push(a, b);
    await deviceStatus(lab, 'bench-02');
    expect(await grantedQos(a, '/ota/device/upgrade/a1LabProd01/bench-02')).toBe(128);
    expect(await grantedQos(a, '/ota/device/upgrade/a1LabProd01/+')).toBe(128);
    expect(await grantedQos(a, '/ota/device/upgrade/a1LabProd01/bench-01')).toBe(1);
    await b.publish('inform', { id: 1, params: { version: '1.0.0' } });
    const { firmwareId } = await addFirmware(lab);
    await createVerifyJob(lab, firmwareId, ['bench-02']);
    await b.next('/upgrade/a1LabProd01/bench-02');
    // A forges B's failure: the broker drops A, and B's task is untouched.
    const dropped = once(a.client, 'close');
    a.client.publish('/ota/device/progress/a1LabProd01/bench-02', JSON.stringify({ id: 1, params: { step: '-1', desc: 'forged' } }), { qos: 0 });
    await dropped;
    expect(a.messages.filter((m) => m.topic.includes('bench-02'))).toHaveLength(0);
    await b.publish('progress', { id: 2, params: { step: '10' } });
    await taskReaches(lab, 'bench-02', 'IN_PROGRESS');
    await b.publish('inform', { id: 3, params: { version: '2.0.0' } });
    await taskReaches(lab, 'bench-02', 'SUCCEEDED');
  });

  it('lets a device use its own topics beyond OTA in their direction, and answers its event posts', async () => {
    const a = await connectDevice(lab, 'bench-01');
    open.push(a);
    const me = '/sys/a1LabProd01/bench-01';
    // No SUBSCRIBE: the platform subscribes a device to its event replies itself.
    await a.client.publishAsync(`${me}/thing/event/property/post`, JSON.stringify({ id: '42', version: '1.0', params: { t: 1 }, method: 'thing.event.property.post' }), { qos: 1 });
    expect(await a.next('/thing/event/property/post_reply')).toEqual({ id: '42', code: 200, data: {}, message: 'success', method: 'thing.event.property.post', version: '1.0' });
    await a.client.publishAsync(`${me}/thing/event/overheat/post`, JSON.stringify({ id: 43, params: {} }), { qos: 1 });
    expect(await a.next('/thing/event/overheat/post_reply')).toMatchObject({ id: '43', code: 200, method: 'thing.event.overheat.post' });
    expect(await grantedQos(a, `${me}/thing/service/+`)).toBe(1);
    expect(await grantedQos(a, `${me}/rrpc/request/+`)).toBe(1);
    expect(await grantedQos(a, '/shadow/get/a1LabProd01/bench-01')).toBe(1);
    expect(await grantedQos(a, '/a1LabProd01/bench-01/user/get')).toBe(1);
    expect(await grantedQos(a, `${me}/thing/event/property/post`)).toBe(128);
    expect(await grantedQos(a, '/sys/a1LabProd01/bench-02/thing/service/+')).toBe(128);
    expect(await grantedQos(a, '/sys/a1LabProd01/+/thing/#')).toBe(128);
    await a.client.publishAsync('/a1LabProd01/bench-01/user/update', 'custom bytes', { qos: 1 });
    await a.client.publishAsync('/shadow/update/a1LabProd01/bench-01', JSON.stringify({ method: 'update', state: { reported: {} }, version: 1 }), { qos: 1 });
    await a.client.publishAsync(`${me}/thing/service/property/set_reply`, JSON.stringify({ id: '7', code: 200, data: {} }), { qos: 1 });
    expect(a.client.connected).toBe(true);
    // Its own downlink topic is the platform's to publish on.
    const dropped = once(a.client, 'close');
    a.client.publish(`${me}/thing/service/property/set`, '{}', { qos: 0 });
    await dropped;
  });

  it('drops a device that publishes on a downlink topic or over 256 KiB, and no one else is affected', async () => {
    const a = await connectDevice(lab, 'bench-01');
    const b = await connectDevice(lab, 'bench-02');
    open.push(a, b);
    let dropped = once(a.client, 'close');
    a.client.publish('/ota/device/upgrade/a1LabProd01/bench-01', '{}', { qos: 0 });
    await dropped;
    const a2 = await connectDevice(lab, 'bench-01');
    open.push(a2);
    dropped = once(a2.client, 'close');
    a2.client.publish('/ota/device/inform/a1LabProd01/bench-01', Buffer.alloc(300 * 1024, 0x20), { qos: 0 });
    await dropped;
    await b.publish('firmwareGet', { id: 1, params: {} });
    expect(await b.next('/get_reply')).toMatchObject({ id: 1, code: 200 });
  });

  it('ignores garbage on a device\'s own topics and stays up', async () => {
    const a = await connectDevice(lab, 'bench-01');
    open.push(a);
    await a.publish('inform', 'not json at all');
    await a.publish('progress', { id: 'x', params: { step: 'ten' } });
    await a.publish('inform', { id: 1, params: { version: 42 } });
    await a.publish('firmwareGet', '[]');
    await a.publish('firmwareGet', { id: 2, params: {} });
    expect(await a.next('/get_reply')).toMatchObject({ id: 2 });
    expect(a.client.connected).toBe(true);
    expect(lab.store.state.devices[0]?.moduleVersions).toEqual({});
  });
});
