// The lab's MQTT broker: aedes with the platform's device authentication (docs/platform.md, § Device connection) and
// topic permissions. The OTA engine is just another client, with a privileged identity, so the
// same engine can run over an external broker instead.
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { timingSafeEqual } from 'node:crypto';
import { appMaySubscribe, checkAppCredentials, isAppUsername } from '../shared/app-subscription.js';
import { checkDeviceCredentials, parseUsername } from '../shared/device-credentials.js';
import { errorMessage, OtaError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { listenNamed } from '../shared/net-listen.js';
import { LIMITS } from '../shared/platform-rules.js';
import { guardPacketSizes } from './mqtt-packet-guard.js';
import { deviceTopic, mayPublish, maySubscribe, type DeviceId } from '../shared/topics.js';

/** The platform refuses a Keep Alive outside 30–1200 s. */
export const KEEPALIVE_MIN_SEC = LIMITS.keepaliveSecMin;
export const KEEPALIVE_MAX_SEC = LIMITS.keepaliveSecMax;
/** A CONNECT carries a client id (≤ 64 characters plus a few parameters), a user name and a
 *  signature: a few hundred bytes. Anything near this cap is not a device logging in. */
export const CONNECT_MAX_BYTES = 4 * 1024;
/** A device's packet: the platform's payload limit plus room for the topic and packet id. */
export const DEVICE_PACKET_MAX_BYTES = LIMITS.mqttPayloadMaxBytes + 1024;
/** Where the embedded broker announces device presence; only the privileged client may read it. */
export const PRESENCE_PREFIX = '$lab/presence';

export interface BrokerOptions {
  host: string;
  port: number;
  tls?: { key: Buffer; cert: Buffer };
  log: Logger;
  /** The device's secret, or undefined when no such device exists. */
  deviceSecret: (id: DeviceId) => string | undefined;
  /** The AccessKey secret for an application login (server-side subscription), or undefined. */
  accessKeySecret: (accessKeyId: string) => string | undefined;
  /** Credentials of the privileged platform-side client (the OTA engine). */
  engineUsername: string;
  enginePassword: string;
}

interface Session {
  device?: DeviceId;
  /** The AccessKeyId of an application login: it may only subscribe to forwarded topics. */
  app?: string;
  privileged: boolean;
  keepaliveSec: number;
}

type AuthError = Error & { returnCode: number };

function refusal(returnCode: number, message: string): AuthError {
  return Object.assign(new Error(message), { returnCode });
}

export class LabBroker {
  readonly #o: BrokerOptions;
  #aedes!: Aedes;
  readonly #sessions = new WeakMap<Client, Session>();
  /** The connection of each device (the newest login): aedes closes the older one, same client id. */
  readonly #byDevice = new Map<string, Client>();
  #server: NetServer | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: BrokerOptions) {
    this.#o = options;
  }

  static async create(options: BrokerOptions): Promise<LabBroker> {
    const self = new LabBroker(options);
    const aedes = await Aedes.createBroker({
      // No cap on messages in flight. With aedes' default cap (100) a backlog forms while the engine's
      // socket is busy, and mqemitter drains it recursively: a burst of connects whose $SYS messages
      // have no subscriber overflowed the stack (mcollina/mqemitter#204; seen here at 1,000 devices).
      concurrency: 0,
      preConnect: (client, packet, cb) => { self.#preConnect(client, packet.keepalive ?? 0); cb(null, true); },
      authenticate: (client, username, password, done) => { self.#authenticate(client, username, password, done); },
      authorizePublish: (client, packet, cb) => { self.#authorizePublish(client, packet, cb); },
      authorizeSubscribe: (client, sub, cb) => { self.#authorizeSubscribe(client, sub, cb); },
    });
    self.#aedes = aedes;
    aedes.on('clientReady', (c) => self.#onReady(c));
    aedes.on('clientDisconnect', (c) => self.#onGone(c));
    return self;
  }

  get connectedClients(): number {
    return this.#aedes.connectedClients;
  }

  async listen(): Promise<string> {
    const handle = (socket: Socket) => {
      const client = this.#aedes.handle(socket);
      guardPacketSizes(socket, {
        connectMaxBytes: CONNECT_MAX_BYTES,
        // The lab's own engine may send more (fuzzing); devices are held to the platform's limit.
        packetMaxBytes: () => (this.#sessions.get(client)?.privileged ? Number.MAX_SAFE_INTEGER : DEVICE_PACKET_MAX_BYTES),
      }, (why) => {
        this.#o.log.warn({ device: this.#sessions.get(client)?.device?.deviceName, remote: socket.remoteAddress, why }, 'MQTT packet refused before buffering; connection closed');
      });
    };
    const server = this.#o.tls ? createTlsServer({ key: this.#o.tls.key, cert: this.#o.tls.cert }, handle) : createNetServer(handle);
    this.#server = server;
    const port = await listenNamed(server, this.#o.host, this.#o.port, 'MQTT broker', '--mqtt-port');
    return `${this.#o.tls ? 'mqtts' : 'mqtt'}://${this.#o.host}:${port}`;
  }

  /** Drop a device's connection, as the console's "disconnect" or a network cut would. */
  kick(id: DeviceId): boolean {
    const c = this.#byDevice.get(key(id));
    c?.close();
    return c !== undefined;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // The listening socket only finishes closing once every client is gone, so stop accepting,
      // let aedes close its clients, then wait for both.
      const server = this.#server;
      const serverClosed = server ? new Promise<void>((resolve) => { server.close(() => resolve()); }) : Promise.resolve();
      await new Promise<void>((resolve) => { this.#aedes.close(() => resolve()); });
      await serverClosed;
    })();
    return this.#closing;
  }

  #preConnect(client: Client, keepaliveSec: number): void {
    this.#sessions.set(client, { privileged: false, keepaliveSec });
  }

  #authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (e: AuthError | null, ok: boolean | null) => void): void {
    const session = this.#sessions.get(client) ?? { privileged: false, keepaliveSec: 0 };
    this.#sessions.set(client, session);
    const pass = password?.toString('utf8') ?? '';
    if (username === this.#o.engineUsername) {
      const ok = safeEqual(pass, this.#o.enginePassword);
      if (ok) session.privileged = true;
      return done(ok ? null : refusal(4, 'bad engine credentials'), ok);
    }
    if (isAppUsername(username)) {
      try {
        session.app = checkAppCredentials(username ?? '', pass, this.#o.accessKeySecret);
        this.#o.log.info({ accessKeyId: session.app }, 'application login (server-side subscription)');
        return done(null, true);
      } catch (err) {
        this.#o.log.warn({ err: errorMessage(err) }, 'application login refused');
        return done(refusal(4, 'bad username or password'), false);
      }
    }
    try {
      const device = parseUsername(username);
      const secret = this.#o.deviceSecret(device);
      if (secret === undefined) throw new OtaError('BAD_CREDENTIALS', `no device ${device.productKey}/${device.deviceName}`);
      checkDeviceCredentials({ clientId: client.id, username: username ?? '', password: pass }, device, secret);
      if (session.keepaliveSec < KEEPALIVE_MIN_SEC || session.keepaliveSec > KEEPALIVE_MAX_SEC) {
        this.#o.log.warn({ device: device.deviceName, keepaliveSec: session.keepaliveSec }, 'connect refused: keepalive outside 30-1200 s');
        return done(refusal(2, `keepalive ${session.keepaliveSec} s is outside ${KEEPALIVE_MIN_SEC}-${KEEPALIVE_MAX_SEC} s`), false);
      }
      session.device = device;
      // One session per device, whatever client id it sent: aedes keeps one connection per client id
      // and closes the older one itself, so the id becomes the device. A device whose client id
      // imitates another's (allowed: the id is free text) then cannot displace that other device.
      const k = key(device);
      const older = this.#byDevice.get(k);
      // Marked as the device's connection before aedes closes the older one, so that close does not
      // report the device offline while its newer connection is coming up.
      this.#byDevice.set(k, client);
      if (older && older !== client) this.#o.log.info({ device: device.deviceName }, 'a newer connection of the same device kicks the older one');
      client.id = `device:${k}`;
      done(null, true);
    } catch (err) {
      this.#o.log.warn({ username, err: errorMessage(err) }, 'connect refused: bad username or password');
      done(refusal(4, 'bad username or password'), false);
    }
  }

  #onReady(client: Client): void {
    const device = this.#sessions.get(client)?.device;
    if (!device) return;
    // A still newer login of the same device may have authenticated meanwhile; it announces itself.
    if (this.#byDevice.get(key(device)) !== client) return;
    // The platform subscribes a device to its own downlink topics itself (docs/platform.md, § Device connection).
    const subs = [
      ...(['upgrade', 'firmwareGetReply', 'fileDownloadReply'] as const).map((kind) => deviceTopic(kind, device)),
      `/sys/${device.productKey}/${device.deviceName}/thing/event/+/post_reply`,
    ].map((topic) => ({ topic, qos: 1 as const }));
    client.subscribe({ subscriptions: subs }, () => this.#presence(device, 'online'));
  }

  #onGone(client: Client): void {
    const device = this.#sessions.get(client)?.device;
    if (!device) return;
    const k = key(device);
    if (this.#byDevice.get(k) !== client) return;
    this.#byDevice.delete(k);
    this.#presence(device, 'offline');
  }

  #presence(device: DeviceId, state: 'online' | 'offline'): void {
    if (this.#aedes.closed) return;
    this.#aedes.publish({
      cmd: 'publish', topic: `${PRESENCE_PREFIX}/${device.productKey}/${device.deviceName}`, payload: Buffer.from(state),
      qos: 1, retain: false, dup: false,
    }, () => undefined);
  }

  #authorizePublish(client: Client | null, packet: PublishPacket, cb: (e?: Error | null) => void): void {
    if (!client) return cb(null);
    const session = this.#sessions.get(client);
    if (session?.privileged) return cb(null);
    const device = session?.device;
    const size = Buffer.isBuffer(packet.payload) ? packet.payload.length : Buffer.byteLength(packet.payload);
    let why: string | undefined;
    if (session?.app) why = 'an application login may only subscribe';
    else if (!device) why = 'not a device';
    else if (!mayPublish(device, packet.topic)) why = 'not one of its own uplink topics';
    else if (packet.qos > 1) why = 'QoS 2 is not supported';
    else if (packet.retain) why = 'retained messages are not supported';
    else if (size > LIMITS.mqttPayloadMaxBytes) why = `payload of ${size} bytes is over ${LIMITS.mqttPayloadMaxBytes}`;
    if (!why) return cb(null);
    this.#o.log.warn({ device: device?.deviceName, topic: packet.topic.slice(0, 200), why }, 'publish refused; connection closed');
    cb(new Error(`publish refused: ${why}`));
  }

  #authorizeSubscribe(client: Client, sub: Subscription, cb: (e: Error | null, s?: Subscription | null) => void): void {
    const session = this.#sessions.get(client);
    if (session?.privileged) return cb(null, sub);
    const device = session?.device;
    if (session?.app && appMaySubscribe(sub.topic)) return cb(null, { ...sub, qos: sub.qos > 1 ? 1 : sub.qos });
    if (device && maySubscribe(device, sub.topic)) {
      return cb(null, { ...sub, qos: sub.qos > 1 ? 1 : sub.qos });
    }
    this.#o.log.warn({ device: device?.deviceName, app: session?.app, topic: sub.topic.slice(0, 200) }, 'subscribe refused');
    cb(null, null);
  }
}

function key(id: DeviceId): string {
  return `${id.productKey}/${id.deviceName}`;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
