// Watching a job to its verdict: the live view, Ctrl-C, the start timeout and --max-wait, and the
// summary a person reads at the end.
import { systemClock } from '../../shared/clock.js';
import { isOtaError } from '../../shared/errors.js';
import { FIRMWARE_STATUS } from '../../shared/platform-rules.js';
import { watchJob } from '../watch.js';
import { resultOf, writeReports, type RunFacts } from './verdict-output.js';
import { CLI_DEFAULTS } from '../cli-defaults.js';
import { paceFlags, targetFlags, type Session } from './session.js';

export interface WatchBounds {
  /** No progress this long after the task appears: the bench fails in our verdict. */
  startTimeoutMs?: number;
  /** Clock time the whole run ends by. */
  deadlineMs?: number;
}

/** The watch's bounds as the user gives them (--start-timeout-minutes, --max-wait): verify and watch. */
export interface WatchLimits {
  /** 0: no start timeout. */
  startTimeoutMinutes: number;
  maxWaitMinutes?: number;
}

/** A run's limits in the watch's terms; --max-wait counts from the run's start. */
export function watchBoundsOf(l: WatchLimits, startedMs: number): WatchBounds {
  return {
    ...(l.startTimeoutMinutes > 0 ? { startTimeoutMs: l.startTimeoutMinutes * 60_000 } : {}),
    ...(l.maxWaitMinutes !== undefined ? { deadlineMs: startedMs + l.maxWaitMinutes * 60_000 } : {}),
  };
}

/** The command that re-attaches to a job, or none when the lab ends with this run (the demo's). It
 *  carries every flag that changes the verdict or the waiting: the target, the start timeout (0 when
 *  there is none), what is left of --max-wait at `nowMs` (so re-attaching never waits past this run's
 *  end; rounded up to the 0.01 minute the flag takes), and the pace. Never a secret: none is a flag. */
export function reattachHint(s: Session, jobId: string, bounds: WatchBounds, nowMs: number): string | undefined {
  if (s.target.ephemeralLab) return undefined;
  const startMinutes = bounds.startTimeoutMs === undefined ? 0 : bounds.startTimeoutMs / 60_000;
  const leftMinutes = bounds.deadlineMs === undefined ? undefined : Math.max(1, Math.ceil((bounds.deadlineMs - nowMs) / 600)) / 100;
  return [
    `ota-verify watch ${jobId}`, targetFlags(s.args, s.target),
    ...(startMinutes !== CLI_DEFAULTS.startTimeoutMinutes ? [`--start-timeout-minutes ${startMinutes}`] : []),
    ...(leftMinutes !== undefined ? [`--max-wait-minutes ${leftMinutes}`] : []),
    ...paceFlags(s.args),
  ].filter((f) => f !== '').join(' ');
}

export async function watchToVerdict(s: Session, jobId: string, facts: RunFacts, bounds: WatchBounds, jobStatus?: string): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  facts.jobId = jobId;
  const startHint = reattachHint(s, jobId, bounds, systemClock.now());
  s.view.say(startHint ? `watching verify job ${jobId} (re-attach with: ${startHint})` : `watching verify job ${jobId}`);
  try {
    const last = await watchJob({
      api: s.api, clock: systemClock, log: s.log, jobId, firmwareId: facts.firmwareId, ...(jobStatus ? { jobStatus } : {}), minIntervalMs: s.args.pollMinMs, maxIntervalMs: s.args.pollMaxMs,
      unreachableMs: 5 * 60_000, settleGraceMs: 2 * 60_000, signal: abort.signal, ...(s.target.iotInstanceId ? { iotInstanceId: s.target.iotInstanceId } : {}),
      productKey: facts.productKey, ...bounds,
      onSnapshot: (snap, changed) => { facts.snapshot = snap; s.view.update(snap, changed); },
    });
    facts.snapshot = last;
  } catch (err) {
    if (!isOtaError(err, 'STOPPED')) throw err;
    // Said again with what is left of --max-wait now, not at the start.
    const hint = reattachHint(s, jobId, bounds, systemClock.now());
    let message = hint ? `stopped watching; the job goes on. Re-attach with: ${hint}` : 'stopped watching; the lab stops too';
    if (s.args.cancelOnInterrupt) {
      await s.api.request('CancelOTATaskByJob', { JobId: jobId, CancelQueuedTask: true, CancelNotifiedTask: true, CancelInProgressTask: true, CancelUnconfirmedTask: true, IotInstanceId: s.target.iotInstanceId }, { urgent: true });
      message = `stopped; the unfinished tasks of job ${jobId} are cancelled`;
    }
    process.stderr.write(`${message}\n`);
    return writeReports(s.args, resultOf(facts, 'stopped', message));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    s.view.close();
  }
  const last = facts.snapshot;
  const notPassed = last.tasks.filter((x) => x.status !== 'SUCCEEDED');
  // Verified only when the platform says so and no bench failed in our verdict.
  const verified = last.firmwareStatus === FIRMWARE_STATUS.verified && notPassed.length === 0;
  const message = last.timedOut ? `not finished within --max-wait; the unfinished tasks of job ${jobId} are cancelled` : null;
  const r = resultOf({ ...facts, firmwareId: last.firmwareId }, verified ? 'verified' : 'failed', message);
  s.view.summary(r.devices);
  for (const d of notPassed) s.view.say(`FAILED ${d.deviceName}: ${d.status === 'FAILED' ? '' : `${d.status}${d.desc ? ' - ' : ''}`}${d.desc || (d.status === 'FAILED' ? 'no reason given' : '')}`);
  if (message) s.view.say(message);
  if (!verified && notPassed.length === 0) s.view.say(`every device passed, but the platform left the firmware at Status ${last.firmwareStatus ?? 'unknown'} (not 1, verified) after the job ended`);
  s.view.say(verified ? `firmware ${r.firmwareId} is verified` : `firmware ${r.firmwareId} failed verification`);
  return writeReports(s.args, r);
}
