// `startAgent`: the bench agent. It announces each module's version at every connect, asks for a
// pending upgrade, takes notices (none before its first announce), and runs one upgrade flow per
// module. A repeat of the running notice is ignored; a newer version replaces the running upgrade.
import { EventEmitter } from 'node:events';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { systemClock, type Clock } from '../shared/clock.js';
import { OtaError, errorMessage } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { deviceTopic, parseDeviceTopic } from '../shared/topics.js';
import { mqttUrlOf, type AgentConfig } from './agent-config.js';
import { MqttChannel, type Channel } from './channel.js';
import { createHttpFetcher, type Fetcher } from './fetcher.js';
import { readVersion } from './install-hook.js';
import { takeNotice } from './notice-intake.js';
import { ProgressReporter } from './progress-reporter.js';
import { NEEDS_RECOVERY, informWithheld, recoverAtStart, refuseForRecovery } from './recovery.js';
import { createAnnouncer } from './announce.js';
import { REPLACED, runFlow } from './upgrade-flow.js';
import { AgentStore, isResumable, type UpgradeRecord } from './upgrade-state.js';

/** A refusal can be a broker hiccup once; three in a row (with backoff between) is a wrong secret. */
const AUTH_REFUSALS_BEFORE_STOP = 3;

export interface AgentDeps {
  clock?: Clock;
  log?: Logger;
  channel?: Channel;
  fetcher?: Fetcher;
}

export interface Agent {
  /** The agent's public API for a program that embeds it (the fleet benchmark runs many agents in one
   *  process): 'done' (record) when an upgrade succeeded, 'failed' (record, step) when it failed,
   *  'refused' (module, reason), 'garbage' (reason) for a notice it could not use, 'notice' (outcome)
   *  after each notice is handled, 'offline' (failures in a row) each time the broker connection is
   *  lost or a reconnect fails, and 'stopped' (OtaError) when the agent cannot go on (the broker
   *  keeps refusing its credentials). What the platform receives is observed on the platform side. */
  readonly events: EventEmitter;
  readonly store: AgentStore;
  close(): Promise<void>;
}

interface Running {
  rec: UpgradeRecord;
  abort: AbortController;
  finished: Promise<void>;
}

export async function startAgent(config: AgentConfig, deps: AgentDeps = {}): Promise<Agent> {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? createLogger({ name: 'ota-agent', level: config.logLevel, secrets: [config.deviceSecret], ...(config.logFormat ? { format: config.logFormat } : {}) });
  const id = { productKey: config.productKey, deviceName: config.deviceName };
  const store = await AgentStore.open(config.workDir, log);
  await store.sweep();
  const publicKey: KeyObject | undefined = config.publicKeyFile ? await loadKey(config.publicKeyFile) : undefined;
  const fetcher = deps.fetcher ?? createHttpFetcher({ allowInsecureHttp: config.allowInsecureHttp, ...(config.caFile ? { ca: await readFile(config.caFile) } : {}) });
  const channel = deps.channel ?? await MqttChannel.start({
    ...id, url: mqttUrlOf(config), deviceSecret: config.deviceSecret, signMethod: config.signMethod, keepaliveSec: config.keepaliveSec,
    reconnectBaseMs: config.reconnectBaseMs, reconnectMaxMs: config.reconnectMaxMs, maxAuthRefusals: AUTH_REFUSALS_BEFORE_STOP, clock, log, ...(config.caFile ? { caFile: config.caFile } : {}),
  });
  const events = new EventEmitter();
  const running = new Map<string, Running>();
  /** Aborted by close(): stops version commands that would otherwise hold the close for their timeout. */
  const stopping = new AbortController();
  const secrets = [config.deviceSecret];
  let msgId = 0;
  let closing: Promise<void> | undefined;

  const publish = (kind: 'inform' | 'progress' | 'firmwareGet', body: Record<string, unknown>) =>
    channel.publish(deviceTopic(kind, id), { id: String(++msgId), ...body }, 1).catch((err: unknown) => log.warn({ err: errorMessage(err), kind }, 'publish failed'));
  const moduleParam = (module: string) => (module === 'default' ? {} : { module });
  const inform = (module: string, version: string) => publish('inform', { params: { version, ...moduleParam(module) } });
  const progress = (module: string, step: number, desc: string) => publish('progress', { params: { step: String(step), desc: desc.slice(0, 120), ...moduleParam(module) } });

  const currentVersion = async (module: string): Promise<string> => {
    const m = config.modules.find((x) => x.name === module);
    if (m?.versionCommand) return readVersion(m.versionCommand, { timeoutSec: config.versionTimeoutSec, secrets, signal: stopping.signal });
    return store.state.versions[module] ?? m?.version ?? '0.0.0';
  };

  // A bench left in an unknown state gets its recoverCommand before anything else: the version is
  // announced, and notices are taken, only after it ran.
  const recovery = recoverAtStart({ config, store, log, currentVersion, secrets, signal: stopping.signal });
  const announcer = createAnnouncer({
    config, store, log, recovery, currentVersion, inform, stopping: stopping.signal,
    askPending: (module) => publish('firmwareGet', { version: '1.0', params: moduleParam(module), method: 'thing.ota.firmware.get' }),
  });

  const start = (rec: UpgradeRecord) => {
    // A notice whose handling close() overtook is not started behind the close's back (its download
    // would write into the work directory after close resolved): it is saved, and the next start resumes it.
    if (stopping.signal.aborted) {
      log.info({ module: rec.module, version: rec.version }, 'upgrade not started: the agent is stopping; the next start resumes it');
      return;
    }
    const abort = new AbortController();
    const reporter = new ProgressReporter((step, desc) => void progress(rec.module, step, desc), clock, config.progressMinStep, config.progressMinIntervalMs);
    const entry: Running = { rec, abort, finished: Promise.resolve() };
    entry.finished = (async () => {
      // runFlow never rejects: a failure is an outcome, reported to the platform with its step (unless the
      // rollback already reported it). The flow's own move to 'done' logs "upgrade done"; one line per upgrade.
      const outcome = await runFlow({
        rec, config, store, fetcher, clock, log, publicKey, signal: abort.signal, progress: reporter, inform, currentVersion,
        fail: (step, desc) => progress(rec.module, step, desc),
      });
      if (outcome.kind === 'done') {
        events.emit('done', rec);
      } else if (outcome.kind === 'failed') {
        if (!outcome.reported) {
          log.warn({ module: rec.module, version: rec.version, step: outcome.step, err: outcome.reason }, 'upgrade failed');
          await progress(rec.module, outcome.step, outcome.reason);
        }
        events.emit('failed', rec, outcome.step);
      }
      if (running.get(rec.module) === entry) running.delete(rec.module);
      await store.sweep().catch(() => undefined);
    })().catch((err: unknown) => { log.error({ module: rec.module, err: errorMessage(err) }, 'upgrade ended with an unexpected error'); });
    running.set(rec.module, entry);
  };

  const refuseNeedsRecovery = async (module: string, version: string) => {
    log.warn({ module, version }, `notice refused: ${NEEDS_RECOVERY} (recoverCommand at the next start, or ota-agent reset --module ${module})`);
    events.emit('refused', module, NEEDS_RECOVERY);
    await progress(module, -1, NEEDS_RECOVERY);
  };

  const onNotice = async (payload: Buffer) => {
    const intake = takeNotice(payload, { allowInsecureHttp: config.allowInsecureHttp, modules: config.modules.map((m) => m.name) });
    if (intake.kind === 'empty') {
      log.debug('no pending upgrade');
      return;
    }
    if (intake.kind === 'garbage') {
      log.warn({ reason: intake.reason }, 'notice dropped');
      events.emit('garbage', intake.reason);
      return;
    }
    if (intake.kind === 'refused') {
      log.warn({ module: intake.module, reason: intake.reason }, 'notice refused');
      events.emit('refused', intake.module, intake.reason);
      await progress(intake.module, -1, intake.reason);
      return;
    }
    const plan = intake.plan;
    // A newer notice never cuts a rollback short (the bench would be left half-way): it waits for it.
    const rollingBack = running.get(plan.module);
    if (rollingBack?.rec.state === 'rolling-back') {
      log.info({ module: plan.module, version: plan.version }, 'notice waits for the running rollback');
      await rollingBack.finished;
    }
    if (await refuseForRecovery(store, plan.module, log)) return refuseNeedsRecovery(plan.module, plan.version);
    const current = running.get(plan.module);
    if (current && current.rec.version === plan.version) {
      log.info({ module: plan.module, version: plan.version }, 'repeat of the running notice ignored');
      return;
    }
    // (Not for a version whose self-test failed: that one is installed and tested again.)
    if (!current && !informWithheld(store, plan.module, plan.version) && (await currentVersion(plan.module).catch(() => '')) === plan.version) {
      // Already there (e.g. installed before a restart): say so, the platform then closes the task.
      log.info({ module: plan.module, version: plan.version }, 'notice for the version already installed; informing it');
      await inform(plan.module, plan.version);
      return;
    }
    if (current) {
      // A rollback that began since the wait above is not cut short either (the flow starts none once aborted).
      if (current.rec.state === 'rolling-back') {
        log.info({ module: plan.module, version: plan.version }, 'notice waits for the running rollback');
        await current.finished;
        if (await refuseForRecovery(store, plan.module, log)) return refuseNeedsRecovery(plan.module, plan.version);
      } else {
        log.info({ module: plan.module, from: current.rec.version, to: plan.version }, 'a newer notice replaces the running upgrade');
        current.abort.abort(REPLACED);
        await current.finished;
      }
    }
    const rec: UpgradeRecord = {
      ...plan, state: 'downloading', startedAtMs: clock.now(),
      files: plan.files.map((f, i) => ({ ...f, partPath: store.partPath(plan.module, plan.version, i) })),
    };
    store.state.upgrades[plan.module] = rec;
    // A save that fails here (disk full) is not the end: the flow's next move fails with a step code.
    await store.save().catch((err: unknown) => log.warn({ module: rec.module, err: errorMessage(err) }, 'cannot save the accepted upgrade'));
    log.info({ module: rec.module, version: rec.version, size: rec.size, files: rec.files.length }, 'upgrade accepted');
    start(rec);
  };

  let queue: Promise<void> = recovery.catch(() => undefined);
  channel.onMessage((topic, payload) => {
    const t = parseDeviceTopic(topic);
    if (!t || t.productKey !== id.productKey || t.deviceName !== id.deviceName) return;
    if (t.kind !== 'upgrade' && t.kind !== 'firmwareGetReply') return;
    // Notices are taken one at a time, in order, and none before the first version report.
    queue = queue.then(async () => { if (await announcer.firstDone()) await onNotice(payload); })
      .catch((err: unknown) => log.error({ err: errorMessage(err) }, 'notice handling failed'))
      .finally(() => events.emit('notice'));
  });
  channel.onConnect(() => { void announcer.announce(); });
  channel.onOffline((failures) => events.emit('offline', failures));
  channel.onRefused((err) => {
    log.error({ err: err.message }, 'the broker refuses this device\'s credentials; stopping');
    events.emit('stopped', err);
  });

  // Then resume what a previous run left unfinished, at the step it was in (an interrupted rollback runs again).
  await recovery.catch(async (err: unknown) => { await channel.close(); throw err; });
  for (const rec of Object.values(store.state.upgrades)) {
    if (isResumable(rec.state)) {
      log.info({ module: rec.module, version: rec.version, state: rec.state }, 'resuming upgrade');
      start(rec);
    }
  }

  return {
    events, store,
    close() {
      closing ??= (async () => {
        stopping.abort();
        for (const r of running.values()) r.abort.abort();
        // The channel closes while the flows stop (a hook gets its SIGTERM → SIGKILL grace), not after:
        // a QoS 1 publish to a broker that is gone never completes, and the flows and the notice queue
        // may be waiting on one; close() fails those. Nothing is lost: every connect re-announces the
        // installed version, and the upgrade state is on disk.
        await Promise.all([channel.close(), ...[...running.values()].map((r) => r.finished)]);
        await queue;
        // A last save that fails (disk full) must not turn a clean stop into an error: every move was
        // saved when it happened, or failed its upgrade then.
        await store.save().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'cannot save the upgrade state at close'));
      })();
      return closing;
    },
  };
}

async function loadKey(file: string): Promise<KeyObject> {
  try {
    const key = createPublicKey(await readFile(file));
    const ok = key.asymmetricKeyType === 'rsa' || (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1');
    if (!ok) throw new Error(`a ${key.asymmetricKeyType} key; expected RSA or EC P-256`);
    return key;
  } catch (cause) {
    throw new OtaError('INVALID_CONFIG', `publicKeyFile ${file}: ${errorMessage(cause)}`, { cause, expected: 'a PEM RSA or EC P-256 public key', details: { field: 'publicKeyFile' } });
  }
}
