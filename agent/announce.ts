// The version announce at every connect, and the rule that the platform hears where a device starts
// from before it moves: no notice is acted on (so no progress is sent for it) before this run's first
// announce is over (every module's version reported, or logged as unreadable: a bench whose version
// cannot be read still takes its upgrade). A notice can reach the agent the moment it connects,
// before its SUBACK and so before its announce (the platform delivers a device's notices whether or
// not it subscribed); a progress step ahead of the version report leaves the platform a started task
// with no source version.
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AgentConfig } from './agent-config.js';
import { informWithheld } from './recovery.js';
import type { AgentStore } from './upgrade-state.js';

export interface AnnounceDeps {
  config: AgentConfig;
  store: AgentStore;
  log: Logger;
  /** Settles once the start-up recovery ran (failed or not): nothing is announced before it. */
  recovery: Promise<unknown>;
  currentVersion: (module: string) => Promise<string>;
  /** Publish the module's version; settles once the broker took it (or it failed and was logged). */
  inform: (module: string, version: string) => Promise<unknown>;
  /** Ask for the module's pending upgrade; settles like `inform`. */
  askPending: (module: string) => Promise<unknown>;
  /** Aborted when the agent stops: a notice held for the first announce is then dropped. */
  stopping: AbortSignal;
}

export interface Announcer {
  /** Report every module's version, then ask for what is pending. Never rejects. */
  announce(): Promise<void>;
  /** Resolves with true once the first announce is done, with false if the agent stops first. */
  firstDone(): Promise<boolean>;
}

export function createAnnouncer(d: AnnounceDeps): Announcer {
  let done = false;
  let markDone: () => void = () => undefined;
  const first = new Promise<void>((resolve) => { markDone = resolve; });
  const stopped = new Promise<void>((resolve) => {
    if (d.stopping.aborted) resolve();
    else d.stopping.addEventListener('abort', () => resolve(), { once: true });
  });

  const announceModules = async () => {
    await d.recovery.catch(() => undefined);
    for (const m of d.config.modules) {
      try {
        const version = await d.currentVersion(m.name);
        if (informWithheld(d.store, m.name, version)) d.log.warn({ module: m.name, version }, 'version not announced: its upgrade has not passed the self-test');
        else await d.inform(m.name, version);
      } catch (err) {
        d.log.error({ module: m.name, err: errorMessage(err) }, 'cannot read the module version; not announced');
        continue;
      }
      // A notice missed while offline is not lost: ask for it.
      await d.askPending(m.name);
    }
  };

  return {
    async announce() {
      try {
        await announceModules();
      } finally {
        done = true;
        markDone();
      }
    },
    async firstDone() {
      if (done) return true;
      d.log.info('notice held until the installed version is reported');
      return Promise.race([first.then(() => true), stopped.then(() => false)]);
    },
  };
}
