// `startLab`: the whole cloud stand-in in one process. Creating is starting here by design (the
// caller asked for a running lab); `close()` stops every socket and timer and may be called twice.
import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../shared/clock.js';
import { OtaError } from '../shared/errors.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { writeLabConnection, type LabConnection } from '../shared/lab-connection.js';
import { ApiServer } from './api-server.js';
import { claimConnectionFile, releaseConnectionFile } from './connection-file.js';
import { LabBroker } from './broker.js';
import { forwardToApplications } from './app-forwarder.js';
import { EngineLink } from './engine-link.js';
import { faultPlanSchema, FaultState, type FaultPlan } from './faults.js';
import { FileServer } from './file-server.js';
import { resolveLabOptions, type LabOptions, type LabOptionsInput } from './lab-options.js';
import { utc, type Firmware } from './model.js';
import { ArrayIndex } from './array-index.js';
import { OtaEngine } from './ota-engine.js';
import { LAB_ACTIONS } from './actions/registry.js';
import { LabStore } from './store.js';
import { ObjectUploads } from './object-upload.js';
import { generateOtaUploadUrl } from './actions/upload-actions.js';
import { LIMITS } from '../shared/platform-rules.js';
import { ensureLabTls } from './tls.js';

/** The request log keeps at most this many entries (benchmarks read the recent ones). */
const REQUEST_LOG_MAX = 100_000;

export interface LabDeps {
  clock?: Clock;
  log?: Logger;
}

export interface ApiRequestRecord {
  action: string;
  code: string;
  atMs: number;
}

export interface Lab {
  readonly options: LabOptions;
  readonly connection: LabConnection;
  readonly store: LabStore;
  readonly engine: OtaEngine;
  readonly files: FileServer;
  /** The object store's PostObject side: GenerateOTAUploadURL's policies and the purge of unregistered uploads. */
  readonly uploads: ObjectUploads;
  /** The embedded broker; undefined with an external one. */
  readonly broker: LabBroker | undefined;
  /** Every API request, for tests and benchmarks that count calls. */
  readonly requests: ApiRequestRecord[];
  setFault(firmwareId: string, plan: FaultPlan | undefined): void;
  /** The fault plan of the first firmware downloaded from now on that has none of its own (for a
   *  firmware not registered yet, e.g. one the demo's ota-verify uploads). */
  setFaultOnNextFirmware(plan: FaultPlan): void;
  /** Publish raw bytes from the platform side (malformed notices, fuzzing). */
  sendRaw(topic: string, payload: string | Buffer): void;
  /** Store a firmware file in the lab's object store and return its (unsigned) URL and digests. */
  putFirmwareFile(name: string, body: Buffer | NodeJS.ReadableStream): Promise<{ url: string; size: number; md5: string; sha256: string }>;
  close(): Promise<void>;
}

export async function startLab(input: LabOptionsInput = {}, deps: LabDeps = {}): Promise<Lab> {
  const options = resolveLabOptions(input);
  if (options.connectionFile) await claimConnectionFile(options.connectionFile);
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLogger();
  const store = options.stateDir ? await LabStore.open(options.stateDir) : LabStore.memory();
  // Without --state-dir, objects and TLS material live in a scratch folder removed on close.
  const scratch = options.stateDir ? undefined : await mkdtemp(join(tmpdir(), 'ota-lab-'));
  const dataDir: string = options.stateDir ?? scratch ?? tmpdir();
  seed(store, options, clock);
  const tls = options.tls ? await ensureLabTls(join(dataDir, 'tls')) : undefined;
  const faults = new Map<string, FaultState>();
  let nextFault: FaultState | undefined;
  const requests: ApiRequestRecord[] = [];
  const adminToken = store.state.adminToken as string;
  const closers: (() => Promise<void> | void)[] = [];
  // Every download asks which firmware its object belongs to (for its fault plan): a map, not a scan.
  const firmwareByObject = new ArrayIndex<Firmware>((f) => [f.firmwareUrl, ...f.multiFiles.map((m) => m.url)]
    .map((url) => FileServer.objectKeyOf(url)).filter((k): k is string => k !== undefined));
  /** Set or clear a firmware's fault plan; the refusal in words, or undefined when applied. */
  const applyFault = (firmwareId: string, plan: unknown): string | undefined => {
    if (!store.find.firmware(firmwareId)) return `no firmware ${JSON.stringify(firmwareId)}`;
    if (plan === undefined) { faults.delete(firmwareId); return undefined; }
    const parsed = faultPlanSchema.safeParse(plan);
    if (!parsed.success) return `fault plan: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`;
    faults.set(firmwareId, new FaultState(parsed.data));
    return undefined;
  };
  const closeAll = async () => {
    for (const c of closers.reverse()) await c();
    await store.flush();
    if (options.connectionFile) await releaseConnectionFile(options.connectionFile);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  };

  try {
    const urlKey = { accessKeyId: store.state.accessKeys[0]?.accessKeyId ?? 'lab', secret: urlSecret(store) };
    // GenerateOTAUploadURL policies: upload within a minute, register within an hour (docs/platform.md).
    const uploads: ObjectUploads = new ObjectUploads({
      objectsDir: join(dataDir, 'objects'), clock, log, key: urlKey, base: () => files.base, objectUrl: (k) => files.objectUrl(k),
      isRegistered: (k) => firmwareByObject.first(store.state.firmware, k) !== undefined,
      maxBytes: LIMITS.firmwareSizeMaxBytes, policyTtlMs: 60_000, purgeAfterMs: 3_600_000,
    });
    const files = new FileServer({
      host: options.host, port: options.filePort, ...(options.fileHost ? { publicHost: options.fileHost.replace(/^\[|\]$/g, '') } : {}), objectsDir: join(dataDir, 'objects'), clock, log,
      urlKey, postObject: (req, res) => uploads.handle(req, res),
      adminToken,
      ...(tls ? { tls: { key: tls.key, cert: tls.cert } } : {}),
      faultFor: (key) => {
        const fw = firmwareByObject.first(store.state.firmware, key);
        if (!fw) return undefined;
        if (nextFault && !faults.has(fw.firmwareId)) { faults.set(fw.firmwareId, nextFault); nextFault = undefined; }
        return faults.get(fw.firmwareId);
      },
      setFault: applyFault,
    });
    const fileBase = await files.listen();
    closers.push(() => files.close());
    await uploads.start();
    closers.push(() => uploads.close());

    // The engine sends through the link, which needs the engine to exist first.
    const linkRef: { current?: EngineLink } = {};
    // The engine's events stay inside the lab: applications observe through the server-side subscription.
    const events = new EventEmitter();
    const engine = new OtaEngine({
      store, clock, log, noticeStyle: options.noticeStyle, events,
      send: (topic, payload) => linkRef.current?.send(topic, payload),
      signUrl: (_fw, url) => files.signedUrl(url, options.urlTtlSec),
    });
    closers.push(() => engine.close());

    const engineUsername = 'ota-lab-engine';
    const enginePassword = randomBytes(18).toString('base64url');
    let broker: LabBroker | undefined;
    let mqttUrl = options.brokerUrl;
    if (!mqttUrl) {
      broker = await LabBroker.create({
        host: options.host, port: options.mqttPort, log, engineUsername, enginePassword,
        ...(tls ? { tls: { key: tls.key, cert: tls.cert } } : {}),
        deviceSecret: (id) => engine.device(id)?.deviceSecret,
        accessKeySecret: (id) => store.state.accessKeys.find((k) => k.accessKeyId === id)?.accessKeySecret,
      });
      closers.push(() => broker?.close());
      mqttUrl = await broker.listen();
    }
    const link = await EngineLink.connect(engine, {
      url: mqttUrl, log,
      ...(broker ? { username: engineUsername, password: enginePassword } : {}),
      ...(tls && broker ? { ca: tls.caFile } : {}),
    });
    linkRef.current = link;
    closers.push(() => link.close());
    closers.push(forwardToApplications({
      events, clock, publish: (topic, payload) => link.send(topic, payload),
      device: (id) => engine.device(id), activeTask: (id, module) => engine.activeTask(id, module),
    }));
    engine.start();

    const api = new ApiServer({
      host: options.host, port: options.apiPort, clock, log, throttle: options.throttle,
      actions: { ...LAB_ACTIONS, GenerateOTAUploadURL: generateOtaUploadUrl(uploads) },
      context: () => ({ store, engine, clock, unfinishedFilter: options.unfinishedFilter }),
      ...(options.instanceId ? { instanceId: options.instanceId } : {}),
      // Bounded by count (entries hold only a served action's name, a code and a time).
      onRequest: (r) => { requests.push(r); if (requests.length > REQUEST_LOG_MAX) requests.splice(0, requests.length - REQUEST_LOG_MAX / 2); },
    });
    const apiEndpoint = await api.listen();
    closers.push(() => api.close());

    const key = store.state.accessKeys[0];
    const connection: LabConnection = {
      kind: 'ota-lab', apiEndpoint, regionId: options.regionId, accessKeyId: key?.accessKeyId ?? '', accessKeySecret: key?.accessKeySecret ?? '',
      productKey: options.productKey,
      devices: store.state.devices.filter((d) => d.productKey === options.productKey).map((d) => ({ deviceName: d.deviceName, deviceSecret: d.deviceSecret })),
      mqttUrl, fileServer: fileBase, adminToken, allowInsecureHttp: !tls, pid: process.pid,
      ...(options.instanceId ? { iotInstanceId: options.instanceId } : {}),
      ...(tls ? { caFile: tls.caFile } : {}),
    };
    if (options.connectionFile) await writeLabConnection(options.connectionFile, connection);

    let closing: Promise<void> | undefined;
    return {
      options, connection, store, engine, files, uploads, broker, requests,
      setFaultOnNextFirmware(plan) {
        const parsed = faultPlanSchema.safeParse(plan);
        if (!parsed.success) throw new OtaError('INVALID_FAULT', `fault plan: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
        nextFault = new FaultState(parsed.data);
      },
      setFault(firmwareId, plan) {
        const refused = applyFault(firmwareId, plan);
        if (refused) throw new OtaError('INVALID_FAULT', refused);
      },
      sendRaw(topic, payload) {
        link.sendRaw(topic, payload);
      },
      async putFirmwareFile(name, body) {
        const stored = await files.putObject(name, Buffer.isBuffer(body) ? Readable.from([body]) : body);
        return { url: files.objectUrl(stored.key), size: stored.size, md5: stored.md5, sha256: stored.sha256 };
      },
      close() {
        closing ??= closeAll();
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** First start: one product, N devices, one AccessKey pair. Later starts add devices if asked for more. */
function seed(store: LabStore, o: LabOptions, clock: Clock): void {
  const s = store.state;
  const now = utc(clock.now());
  if (s.accessKeys.length === 0) {
    s.accessKeys.push({
      accessKeyId: o.accessKeyId ?? `LTAI${randomBytes(10).toString('hex')}`,
      accessKeySecret: o.accessKeySecret ?? randomBytes(22).toString('base64url'),
    });
  }
  s.adminToken ??= randomBytes(24).toString('base64url');
  if (!s.products.some((p) => p.productKey === o.productKey)) s.products.push({ productKey: o.productKey, productName: 'ota-lab bench product' });
  const have = s.devices.filter((d) => d.productKey === o.productKey).length;
  for (let i = have + 1; i <= o.deviceCount; i++) {
    s.devices.push({
      productKey: o.productKey, deviceName: `${o.devicePrefix}${String(i).padStart(2, '0')}`, deviceSecret: randomBytes(16).toString('hex'),
      iotId: randomBytes(12).toString('hex'), status: 'UNACTIVE', moduleVersions: {}, utcCreate: now,
    });
  }
  // Devices are offline until the broker sees them again (a restarted lab has no connections).
  for (const d of s.devices) if (d.status === 'ONLINE') d.status = 'OFFLINE';
  store.changed();
}

function urlSecret(store: LabStore): string {
  return `${store.state.accessKeys[0]?.accessKeySecret ?? 'lab'}:objects`;
}
