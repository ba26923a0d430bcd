// What every ota-verify command starts from: where it talks to (target), the one rate limiter and API
// client of the process, the logger and the live view; and how to tell a person to come back.
import { systemClock } from '../../shared/clock.js';
import { OtaError, isOtaError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { readLabConnection } from '../../shared/lab-connection.js';
import { labStatusHint } from '../../shared/lab-liveness.js';
import { createOpenApiCall } from '../../shared/openapi-client.js';
import { CLI_DEFAULTS } from '../cli-defaults.js';
import { PlatformApi } from '../platform-api.js';
import { RateLimiter } from '../rate-limiter.js';
import { LiveView } from '../live-view.js';
import { resolveTarget, type Target, type TargetArgs } from '../target.js';

export interface SessionArgs extends TargetArgs {
  json: boolean;
  junit?: string;
  quiet: boolean;
  budget: number;
  pollMinMs: number;
  pollMaxMs: number;
  logLevel: string;
  cancelOnInterrupt: boolean;
}

export interface Session {
  api: PlatformApi;
  target: Target;
  log: Logger;
  view: LiveView;
  args: SessionArgs;
}

export async function session(a: SessionArgs): Promise<Session> {
  const target = await resolveTarget(a);
  const log = createLogger({ name: 'ota-verify', level: a.logLevel, secrets: target.secrets });
  const api = new PlatformApi({
    call: withReachHint(createOpenApiCall(target), a, target), limiter: new RateLimiter(systemClock, a.budget), clock: systemClock, log,
    maxAttempts: 6, backoffBaseMs: 500, backoffMaxMs: 8000,
  });
  // With --json, stdout carries only the document; people read the live view on stderr.
  return { api, target, log, view: new LiveView(a.json ? process.stderr : process.stdout, a.quiet), args: a };
}

/** A shell word: quoted only when it has to be. */
function word(s: string): string {
  return /^[A-Za-z0-9_./:@=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The flags that chose the target, as given, so a printed command reaches the same instance. */
export function targetFlags(a: TargetArgs, target?: Target): string {
  const flags: string[] = [];
  const region = a.lab ? a.region : (a.region ?? target?.regionId);
  if (a.lab) flags.push(`--lab ${word(a.lab)}`);
  if (region) flags.push(`--region ${word(region)}`);
  if (a.endpoint) flags.push(`--endpoint ${word(a.endpoint)}`);
  if (a.instanceId) flags.push(`--instance-id ${word(a.instanceId)}`);
  if (a.profile && !a.lab) flags.push(`--profile ${word(a.profile)}`);
  return flags.join(' ');
}

/** The flags of a session that change a watch's pace, as given when not the defaults. */
export function paceFlags(a: SessionArgs): string[] {
  return [
    ...(a.budget !== CLI_DEFAULTS.budget ? [`--budget ${a.budget}`] : []),
    ...(a.pollMinMs !== CLI_DEFAULTS.pollMinMs ? [`--poll-min-ms ${a.pollMinMs}`] : []),
    ...(a.pollMaxMs !== CLI_DEFAULTS.pollMaxMs ? [`--poll-max-ms ${a.pollMaxMs}`] : []),
    ...(a.cancelOnInterrupt ? ['--cancel-on-interrupt'] : []),
  ];
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A connection that cannot be made gets one line that says where and what to check. */
function withReachHint(call: ReturnType<typeof createOpenApiCall>, a: SessionArgs, target: Target): ReturnType<typeof createOpenApiCall> {
  return async (action, params) => {
    try {
      return await call(action, params);
    } catch (err) {
      if (!isOtaError(err, 'TRANSPORT_ERROR') || !UNREACHABLE.has(String(err.details.netCode))) throw err;
      const where = a.lab ? `the lab of ${a.lab} at ${target.endpoint}` : target.endpoint;
      const hint = a.lab ? labStatusHint({ pid: await labPid(a.lab) }) : 'check --region or --endpoint, and the network';
      throw new OtaError('TRANSPORT_ERROR', `cannot reach ${where} (${String(err.details.netCode)}): ${hint}`, { cause: err, details: err.details });
    }
  };
}

/** The pid recorded in the lab file now (a restarted lab may have rewritten it), if it still reads. */
async function labPid(labFile: string): Promise<number | undefined> {
  return readLabConnection(labFile).then((lab) => lab.pid, () => undefined);
}
