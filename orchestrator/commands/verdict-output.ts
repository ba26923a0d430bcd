// The verdict as every exit writes it: the JSON document on stdout (--json) and the JUnit file
// (--junit), also on a refusal (exit 2) or a failure (exit 3), with the message and what was known.
import { errorMessage } from '../../shared/errors.js';
import { exitCodeOf } from '../exit-codes.js';
import { RESULT_SCHEMA, devicesOf, junitXml, namedDevices, writeAtomic, type DeviceResult, type Verdict, type VerifyResult } from '../report.js';
import type { Snapshot } from '../watch.js';
import type { SessionArgs } from './session.js';

/** What a run knows so far; filled in as it goes, so a failure at any point can still be reported. */
export interface RunFacts {
  firmwareId: string;
  productKey: string;
  startedMs: number;
  warnings: string[];
  /** The benches asked for (reported until tasks are read). */
  devices: string[];
  jobId: string | null;
  firmwareStatus: number | null;
  snapshot?: Snapshot;
}

const EXIT: Record<Verdict, number> = { verified: 0, 'already-verified': 0, 'no-verification-needed': 0, created: 0, failed: 1, refused: 2, error: 3, stopped: 4 };

export function resultOf(f: RunFacts, verdict: Verdict, message: string | null = null, exitCode = EXIT[verdict]): VerifyResult {
  const end = Date.now();
  const devices: DeviceResult[] = f.snapshot && f.snapshot.tasks.length > 0 ? devicesOf(f.snapshot) : namedDevices(f.devices);
  return {
    schema: RESULT_SCHEMA, verdict, exitCode, message, firmwareId: f.firmwareId, productKey: f.productKey, jobId: f.snapshot?.jobId ?? f.jobId,
    jobStatus: f.snapshot?.jobStatus ?? null, firmwareStatus: f.snapshot?.firmwareStatus ?? f.firmwareStatus, startedAt: new Date(f.startedMs).toISOString(),
    endedAt: new Date(end).toISOString(), durationMs: end - f.startedMs, warnings: f.warnings, devices,
  };
}

export async function writeReports(a: Pick<SessionArgs, 'json' | 'junit'>, r: VerifyResult): Promise<number> {
  if (a.junit) await writeAtomic(a.junit, junitXml(r));
  if (a.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  return r.exitCode;
}

const reported = new WeakSet<object>();

/** Whether a command already wrote the reports for this error. */
export function wasReported(err: unknown): boolean {
  return typeof err === 'object' && err !== null && reported.has(err);
}

/** A run that ends on an error still leaves its reports; the error then goes on to be printed. */
export async function reportError(a: Pick<SessionArgs, 'json' | 'junit'>, f: RunFacts, err: unknown, code = exitCodeOf(err)): Promise<void> {
  if (typeof err === 'object' && err !== null) reported.add(err);
  if (!a.json && !a.junit) return;
  try {
    await writeReports(a, resultOf(f, code === 2 ? 'refused' : code === 4 ? 'stopped' : 'error', errorMessage(err), code));
  } catch (writeErr) {
    process.stderr.write(`ota-verify: could not write the report: ${errorMessage(writeErr)}\n`);
  }
}
