// An application's side of the server-side subscription over MQTT: log in with the AccessKey, subscribe
// to every forwarded topic of the account, hand each recognised message to the listeners. Used by
// `ota-lab demo` for its live view and by the tests; it never publishes.
import { readFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { APP_TOPIC_FILTERS, parseAppMessage, signAppCredentials, type AppMessage } from './app-subscription.js';
import { OtaError } from './errors.js';

export interface AppSubscriberOptions {
  mqttUrl: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** CA file for an mqtts:// broker with a private root (the lab's own). */
  caFile?: string;
  /** Default: every forwarded topic of every device. */
  topics?: readonly string[];
  connectTimeoutMs?: number;
}

export interface AppSubscriber {
  on(listener: (m: AppMessage) => void): () => void;
  close(): Promise<void>;
}

export async function connectAppSubscriber(o: AppSubscriberOptions): Promise<AppSubscriber> {
  const creds = signAppCredentials({ accessKeyId: o.accessKeyId, accessKeySecret: o.accessKeySecret });
  const client: MqttClient = await mqtt.connectAsync(o.mqttUrl, {
    clientId: creds.clientId, username: creds.username, password: creds.password,
    ...(o.caFile ? { ca: await readFile(o.caFile) } : {}),
    protocolVersion: 4, clean: true, keepalive: 60, reconnectPeriod: 500, connectTimeout: o.connectTimeoutMs ?? 10_000,
  });
  const listeners = new Set<(m: AppMessage) => void>();
  client.on('message', (topic, payload) => {
    const m = parseAppMessage(topic, payload);
    if (m) for (const l of [...listeners]) l(m);
  });
  // An error after login (a dropped broker) is the reconnect's business, not a crash.
  client.on('error', () => undefined);
  const topics = [...(o.topics ?? APP_TOPIC_FILTERS)];
  try {
    // mqtt.js rejects when the SUBACK refuses any filter (granted 128).
    await client.subscribeAsync(topics, { qos: 1 });
  } catch (cause) {
    await client.endAsync(true);
    throw new OtaError('SUBSCRIBE_REFUSED', `the broker refused the subscription to ${topics.join(', ')}`, {
      expected: 'forwarded topics of the server-side subscription (an external broker may not allow them)', cause,
    });
  }
  let closing: Promise<void> | undefined;
  return {
    on(listener) {
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    },
    close() {
      closing ??= client.endAsync(true).then(() => undefined);
      return closing;
    },
  };
}
