// Connects the OTA engine to a broker as an ordinary MQTT client: uplink topics in, notices out.
// Over the embedded broker it also reads presence; over an external one (mosquitto) a device counts
// as online from its first message.
import { readFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../shared/logger.js';
import { UPLINK_WILDCARDS } from '../shared/topics.js';
import { PRESENCE_PREFIX } from './broker.js';
import type { OtaEngine } from './ota-engine.js';
import { eventPostReply } from './thing-replies.js';

export interface EngineLinkOptions {
  url: string;
  username?: string;
  password?: string;
  /** CA file for an mqtts:// broker with a private root (the lab's own, or the platform's 8883 root). */
  ca?: string;
  log: Logger;
}

export class EngineLink {
  readonly #client: MqttClient;
  #closing: Promise<void> | undefined;

  private constructor(client: MqttClient) {
    this.#client = client;
  }

  static async connect(engine: OtaEngine, o: EngineLinkOptions): Promise<EngineLink> {
    const client = await mqtt.connectAsync(o.url, {
      clientId: `ota-lab-engine-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      ...(o.username !== undefined ? { username: o.username, password: o.password ?? '' } : {}),
      ...(o.ca ? { ca: await readFile(o.ca) } : {}),
      protocolVersion: 4, clean: true, keepalive: 60, reconnectPeriod: 500,
    });
    client.on('message', (topic, payload) => {
      if (topic.startsWith(`${PRESENCE_PREFIX}/`)) {
        const [, , productKey, deviceName] = topic.split('/');
        if (productKey && deviceName) engine.setOnline({ productKey, deviceName }, payload.toString() === 'online');
        return;
      }
      const reply = eventPostReply(topic, payload);
      if (reply) return void client.publish(reply.topic, JSON.stringify(reply.payload), { qos: 0 });
      engine.handleUplink(topic, payload);
    });
    client.on('error', (err) => o.log.warn({ err: err.message }, 'engine MQTT link error'));
    // Subscriptions are restored by mqtt.js after a reconnect (resubscribe defaults to true).
    await client.subscribeAsync([...UPLINK_WILDCARDS, `${PRESENCE_PREFIX}/+/+`], { qos: 1 });
    return new EngineLink(client);
  }

  send(topic: string, payload: Record<string, unknown>): void {
    this.sendRaw(topic, JSON.stringify(payload));
  }

  /** Any bytes to any topic, as the platform side may: for malformed-notice tests. */
  sendRaw(topic: string, payload: string | Buffer): void {
    this.#client.publish(topic, payload, { qos: 1 });
  }

  close(): Promise<void> {
    this.#closing ??= this.#client.endAsync(true).then(() => undefined);
    return this.#closing;
  }
}
