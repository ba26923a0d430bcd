// The official Node device SDK (alibabacloud-iot-device-sdk), unmodified, against the lab: it
// subscribes to its own topics at connect, posts properties and waits for the platform's reply.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { startLab, type Lab } from '../../lab/start-lab.js';

interface MqttPacket { cmd: string; messageId?: number; granted?: number[]; subscriptions?: { topic: string }[] }
interface SdkDevice extends EventEmitter {
  _mqttClient: EventEmitter & { connected: boolean };
  postProps(params: Record<string, unknown>, cb: (res: { id: string; code: number; method?: string }) => void): void;
  postEvent(name: string, params: Record<string, unknown>, cb: (res: { id: string; code: number; method?: string }) => void): void;
  subscribe(topic: string, opts: { qos: number }, cb: (err: Error | null, granted?: { topic: string; qos: number }[]) => void): void;
  publish(topic: string, payload: string, cb?: (err?: Error) => void): void;
  end(force: boolean, cb?: () => void): void;
}
interface Sdk { device(config: Record<string, unknown>): SdkDevice }
const iot = createRequire(import.meta.url)('alibabacloud-iot-device-sdk') as Sdk;

let lab: Lab;
let device: SdkDevice;
const sent = new Map<number, string[]>();
const granted = new Map<string, number>();
let closes = 0;
let allAnswered: Promise<void>;

beforeAll(async () => {
  lab = await startLab({ deviceCount: 2, throttle: 'off' });
  const d = lab.connection.devices[0];
  device = iot.device({
    productKey: lab.connection.productKey, deviceName: d?.deviceName, deviceSecret: d?.deviceSecret,
    brokerUrl: lab.connection.mqttUrl, keepalive: 60, clean: true,
  });
  const client = device._mqttClient;
  client.on('close', () => { closes++; });
  // What the SDK asked for at connect and what the broker granted, read off the wire.
  allAnswered = new Promise<void>((resolve) => {
    client.on('packetsend', (p: MqttPacket) => {
      if (p.cmd === 'subscribe' && p.messageId !== undefined) sent.set(p.messageId, (p.subscriptions ?? []).map((s) => s.topic));
    });
    client.on('packetreceive', (p: MqttPacket) => {
      if (p.cmd !== 'suback' || p.messageId === undefined) return;
      const topics = sent.get(p.messageId) ?? [];
      topics.forEach((t, i) => granted.set(t, p.granted?.[i] ?? -1));
      if (sent.size >= 10 && granted.size === [...sent.values()].flat().length) resolve();
    });
  });
  await new Promise<void>((resolve) => device.once('connect', () => resolve()));
  await allAnswered;
});
afterAll(async () => {
  await new Promise<void>((resolve) => device.end(true, () => resolve()));
  await lab.close();
});

describe('alibabacloud-iot-device-sdk against the lab', () => {
  it('has the subscriptions it makes at connect granted, except the one uplink topic it subscribes to', () => {
    const pk = lab.connection.productKey;
    const dn = lab.connection.devices[0]?.deviceName ?? '';
    expect(granted.size).toBeGreaterThanOrEqual(15);
    // The SDK also subscribes to …/config/push_reply, which the platform documents as the device's
    // own uplink (publish) topic: refused as every uplink subscription is.
    const refused = [...granted].filter(([, qos]) => qos === 128).map(([t]) => t);
    expect(refused).toEqual([`/sys/${pk}/${dn}/thing/config/push_reply`]);
    for (const t of [`/sys/${pk}/${dn}/thing/event/property/post_reply`, `/sys/${pk}/${dn}/thing/service/property/set`,
      `/sys/${pk}/${dn}/thing/event/+/post_reply`, `/shadow/get/${pk}/${dn}`, `/sys/${pk}/${dn}/rrpc/request/+`]) {
      expect(granted.get(t)).toBe(1);
    }
  });

  it('gets the platform\'s reply to a property post and to an event post', async () => {
    const props = await new Promise<{ id: string; code: number; method?: string }>((resolve) => device.postProps({ temperature: 21.5 }, resolve));
    expect(props).toMatchObject({ code: 200, method: 'thing.event.property.post' });
    const event = await new Promise<{ id: string; code: number; method?: string }>((resolve) => device.postEvent('overheat', { level: 2 }, resolve));
    expect(event).toMatchObject({ code: 200, method: 'thing.event.overheat.post' });
    expect(closes).toBe(0);
  });

  it('is refused another device\'s topics: no subscription, and a publish there drops its connection', async () => {
    const other = `/sys/${lab.connection.productKey}/${lab.connection.devices[1]?.deviceName ?? ''}/thing/service/property/set`;
    const grant = await new Promise<number | undefined>((resolve) => device.subscribe(other, { qos: 1 }, (_err, g) => resolve(g?.[0]?.qos)));
    expect(grant).toBe(128);
    expect(closes).toBe(0);
    const dropped = new Promise<void>((resolve) => device._mqttClient.once('close', () => resolve()));
    device.publish(`/sys/${lab.connection.productKey}/${lab.connection.devices[1]?.deviceName ?? ''}/thing/event/property/post`, JSON.stringify({ id: '1', params: {} }));
    await dropped;
    expect(closes).toBe(1);
  });
});
