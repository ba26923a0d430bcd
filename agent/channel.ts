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

/** close() waits this long for acks: short enough that a whole agent close stays within 3 s. */
const GRACEFUL_CLOSE_MS = 1000;

/** CONNACK refusals that retrying cannot fix: MQTT 3.1.1 return codes 4 (bad user name or password)
 *  and 5 (not authorized), MQTT 5 reason codes 134 and 135 (the same two). */
const AUTH_REFUSALS: ReadonlyMap<number, string> = new Map([
  [4, 'bad username or password'], [5, 'not authorized'], [134, 'bad username or password'], [135, 'not authorized'],
]);

function isAuthRefusal(code: number): boolean {
  return AUTH_REFUSALS.has(code);
}

function closedError(): OtaError {
  return new OtaError('CHANNEL_CLOSED', 'the MQTT channel was closed before the message was acknowledged');
}

export interface Channel {
  publish(topic: string, payload: Record<string, unknown>, qos: 0 | 1): Promise<void>;
  /** Downlink messages for this device. */
  onMessage(fn: (topic: string, payload: Buffer) => void): void;
  /** Called after every successful (re)connect, once subscriptions are in place. */
  onConnect(fn: () => void): void;
  /** Called once when the broker refused the credentials and the channel stopped trying. */
  onRefused(fn: (err: OtaError) => void): void;
  /** Called each time the connection is lost or a connect attempt fails, with how many of those in a
   *  row since the last successful connect (1: just dropped; more: the broker keeps not answering). */
  onOffline(fn: (failures: number) => void): void;
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
  /** Consecutive credential refusals after which the channel stops reconnecting: a wrong secret or an
   *  unknown device does not heal by retrying, an operator must fix it. */
  maxAuthRefusals: number;
  /** How long close() waits for unacknowledged QoS 1 messages before dropping the socket. */
  gracefulCloseMs?: number;
  clock: Clock;
  log: Logger;
}

export class MqttChannel implements Channel {
  readonly #o: MqttChannelOptions;
  readonly #client: MqttClient;
  readonly #onMessage: ((topic: string, payload: Buffer) => void)[] = [];
  readonly #onConnect: (() => void)[] = [];
  readonly #onRefused: ((err: OtaError) => void)[] = [];
  readonly #onOffline: ((failures: number) => void)[] = [];
  #attempt = 0;
  #authRefusals = 0;
  #refused: OtaError | undefined;
  #retry: TimerHandle | undefined;
  #closing: Promise<void> | undefined;
  /** Publishes not yet acknowledged: mqtt.js leaves queued QoS 1 publishes pending forever once the
   *  channel is closed, so close() fails them. One entry per message, removed when it settles (a
   *  shared "closed" promise raced by every publish kept one reaction per message until close). */
  readonly #pending = new Set<(err: Error) => void>();

  private constructor(o: MqttChannelOptions, client: MqttClient) {
    this.#o = o;
    this.#client = client;
    client.on('connect', () => { this.#attempt = 0; this.#authRefusals = 0; void this.#ready(); });
    client.on('message', (topic, payload) => { for (const fn of this.#onMessage) fn(topic, payload); });
    client.on('close', () => this.#scheduleReconnect());
    client.on('error', (err: Error & { code?: unknown }) => {
      if (typeof err.code === 'number' && isAuthRefusal(err.code)) this.#authRefused(err.code);
      else o.log.warn({ err: err.message }, 'mqtt error');
    });
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

  onRefused(fn: (err: OtaError) => void): void {
    this.#onRefused.push(fn);
    if (this.#refused) fn(this.#refused);
  }

  onOffline(fn: (failures: number) => void): void {
    this.#onOffline.push(fn);
  }

  publish(topic: string, payload: Record<string, unknown>, qos: 0 | 1): Promise<void> {
    if (this.#closing) return Promise.reject(closedError());
    // Offline publishes wait in mqtt.js's queue and go out after the reconnect, unless we close first.
    return new Promise<void>((resolve, reject) => {
      this.#pending.add(reject);
      this.#client.publishAsync(topic, JSON.stringify(payload), { qos }).then(() => resolve(), reject)
        .finally(() => this.#pending.delete(reject));
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#retry?.cancel();
      this.#retry = undefined;
      if (this.#client.connected) {
        // Give in-flight QoS 1 messages a moment to be acknowledged, but never wait on a broker that
        // is gone: what matters (the upgrade's state) is on disk and is re-sent on the next start.
        let timer: TimerHandle | undefined;
        const gaveUp = new Promise<boolean>((resolve) => { timer = this.#o.clock.setTimer(this.#o.gracefulCloseMs ?? GRACEFUL_CLOSE_MS, () => resolve(false)); });
        const graceful = this.#client.endAsync(false).then(() => true, () => true);
        const won = await Promise.race([graceful, gaveUp]);
        timer?.cancel();
        // mqtt.js ignores a second end() while the first one waits for acks that will never come
        // (after a kick the unacked messages stay "outgoing"), so drop the socket ourselves.
        if (!won) this.#client.stream.destroy();
      } else {
        // Not connected (kicked, reconnecting): nothing can be flushed; end at once.
        await this.#client.endAsync(true).catch(() => undefined);
      }
      const err = closedError();
      for (const reject of this.#pending) reject(err);
      this.#pending.clear();
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

  #authRefused(code: number): void {
    this.#authRefusals += 1;
    const reason = AUTH_REFUSALS.get(code) ?? 'refused';
    if (this.#authRefusals < this.#o.maxAuthRefusals) {
      this.#o.log.warn({ code, refusals: this.#authRefusals }, `broker refused the login: ${reason}`);
      return;
    }
    if (this.#refused) return;
    this.#refused = new OtaError('AUTH_REFUSED', `the broker at ${this.#o.url} refused ${this.#o.productKey}/${this.#o.deviceName}: ${reason} (MQTT code ${code}); check the device secret (OTA_DEVICE_SECRET or deviceSecretFile), productKey, deviceName and signMethod`, {
      details: { mqttCode: code },
    });
    this.#retry?.cancel();
    this.#retry = undefined;
    for (const fn of this.#onRefused) fn(this.#refused);
  }

  #scheduleReconnect(): void {
    if (this.#closing || this.#retry || this.#refused) return;
    const delayMs = backoffDelayMs(this.#attempt++, this.#o.reconnectBaseMs, this.#o.reconnectMaxMs);
    this.#o.log.warn({ delayMs, attempt: this.#attempt }, 'disconnected; reconnecting');
    for (const fn of this.#onOffline) fn(this.#attempt);
    this.#retry = this.#o.clock.setTimer(delayMs, () => {
      this.#retry = undefined;
      // Keep mqtt.js's stores: reconnect() without them starts empty ones, and the QoS 1 messages not
      // yet acknowledged (a final inform, a failure step) were then never re-sent and their publishes
      // never settled, which held a finished upgrade at "reporting" and made close() wait for acks.
      if (!this.#closing) this.#client.reconnect({ incomingStore: this.#client.incomingStore, outgoingStore: this.#client.outgoingStore });
    });
  }
}
