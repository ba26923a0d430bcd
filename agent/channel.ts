// The agent's MQTT port and its real adapter. The upgrade flow only sees `Channel`; tests may use
// the real one against the lab. Reconnects use bounded exponential backoff with jitter (mqtt.js's
// own reconnect is a fixed period), and every (re)connect re-subscribes and re-announces.
import { readFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { backoffDelayMs } from '../shared/backoff.js';
import type { Clock, TimerHandle } from '../shared/clock.js';
import { signDeviceCredentials, type DeviceSignMethod } from '../shared/device-credentials.js';
import { OtaError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { deviceTopic, type DeviceId } from '../shared/topics.js';

export interface Channel {
  publish(topic: string, payload: Record<string, unknown>, qos: 0 | 1): Promise<void>;
  /** Downlink messages for this device. */
  onMessage(fn: (topic: string, payload: Buffer) => void): void;
  /** Called after every successful (re)connect, once subscriptions are in place. */
  onConnect(fn: () => void): void;
  readonly connected: boolean;
  close(): Promise<void>;
}

export interface MqttChannelOptions extends DeviceId {
  url: string;
  deviceSecret: string;
  signMethod: DeviceSignMethod;
  keepaliveSec: number;
  caFile?: string;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  clock: Clock;
  log: Logger;
}

export class MqttChannel implements Channel {
  readonly #o: MqttChannelOptions;
  readonly #client: MqttClient;
  readonly #onMessage: ((topic: string, payload: Buffer) => void)[] = [];
  readonly #onConnect: (() => void)[] = [];
  #attempt = 0;
  #retry: TimerHandle | undefined;
  #closing: Promise<void> | undefined;
  /** Rejects when the channel closes: mqtt.js leaves queued QoS 1 publishes pending forever then. */
  readonly #closed: Promise<never>;
  #markClosed: () => void = () => undefined;

  private constructor(o: MqttChannelOptions, client: MqttClient) {
    this.#o = o;
    this.#client = client;
    this.#closed = new Promise<never>((_resolve, reject) => { this.#markClosed = () => reject(new OtaError('CHANNEL_CLOSED', 'the MQTT channel was closed before the message was acknowledged')); });
    this.#closed.catch(() => undefined);
    client.on('connect', () => { this.#attempt = 0; void this.#ready(); });
    client.on('message', (topic, payload) => { for (const fn of this.#onMessage) fn(topic, payload); });
    client.on('close', () => this.#scheduleReconnect());
    client.on('error', (err) => o.log.warn({ err: err.message }, 'mqtt error'));
  }

  /** Creating is not connecting: `start` makes the channel and begins connecting. */
  static async start(o: MqttChannelOptions): Promise<MqttChannel> {
    // The platform ignores timestamp freshness; a fixed one keeps the password valid across reconnects.
    const creds = signDeviceCredentials({ productKey: o.productKey, deviceName: o.deviceName, deviceSecret: o.deviceSecret, signMethod: o.signMethod, secureMode: o.url.startsWith('mqtts') ? 2 : 3, timestampMs: 2524608000000 });
    const client = mqtt.connect(o.url, {
      ...creds, keepalive: o.keepaliveSec, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: 15_000,
      ...(o.caFile ? { ca: await readFile(o.caFile) } : {}),
    });
    return new MqttChannel(o, client);
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  onMessage(fn: (topic: string, payload: Buffer) => void): void {
    this.#onMessage.push(fn);
  }

  onConnect(fn: () => void): void {
    this.#onConnect.push(fn);
    if (this.#client.connected) fn();
  }

  async publish(topic: string, payload: Record<string, unknown>, qos: 0 | 1): Promise<void> {
    // Offline publishes wait in mqtt.js's queue and go out after the reconnect, unless we close first.
    await Promise.race([this.#client.publishAsync(topic, JSON.stringify(payload), { qos }), this.#closed]);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#retry?.cancel();
      // Give in-flight QoS 1 messages a moment to be acknowledged, but never wait on a broker that is
      // gone: what matters (the upgrade's state) is on disk and is re-sent on the next start.
      const graceful = this.#client.endAsync(false).then(() => true, () => true);
      const gaveUp = new Promise<boolean>((resolve) => { this.#o.clock.setTimer(2000, () => resolve(false)); });
      if (!(await Promise.race([graceful, gaveUp]))) await this.#client.endAsync(true).catch(() => undefined);
      this.#markClosed();
    })();
    return this.#closing;
  }

  async #ready(): Promise<void> {
    this.#o.log.info({ url: this.#o.url }, 'connected');
    // The platform subscribes devices itself; subscribing too is harmless and helps other brokers.
    try {
      await this.#client.subscribeAsync([deviceTopic('upgrade', this.#o), deviceTopic('firmwareGetReply', this.#o)], { qos: 1 });
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'subscribe refused; relying on the platform\'s own subscriptions');
    }
    for (const fn of this.#onConnect) fn();
  }

  #scheduleReconnect(): void {
    if (this.#closing || this.#retry) return;
    const delayMs = backoffDelayMs(this.#attempt++, this.#o.reconnectBaseMs, this.#o.reconnectMaxMs);
    this.#o.log.warn({ delayMs, attempt: this.#attempt }, 'disconnected; reconnecting');
    this.#retry = this.#o.clock.setTimer(delayMs, () => {
      this.#retry = undefined;
      if (!this.#closing) this.#client.reconnect();
    });
  }
}
