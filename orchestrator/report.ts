// What ota-verify tells CI: the JSON document and the JUnit file, written on every exit.
import { writeFileAtomic } from '../shared/atomic-file.js';
import type { TaskView } from './task-view.js';
import type { Snapshot } from './watch.js';
import { failurePhaseOf, type FailurePhase } from './failure-phase.js';

export const RESULT_SCHEMA = 'ota-verify/result@2';

export type Verdict = 'verified' | 'failed' | 'already-verified' | 'no-verification-needed' | 'stopped' | 'created' | 'refused' | 'error';

/** One bench in the reports: its task as shown (see TaskView for each field), without our bookkeeping. */
/** `phase`: where a FAILED device failed, read from its desc (null when not failed or not said). */
export type DeviceResult = Omit<TaskView, 'taskId' | 'sinceMs'> & { phase: FailurePhase | null };

/** The JSON document's shape, documented in README.md. */
export interface VerifyResult {
  schema: typeof RESULT_SCHEMA;
  verdict: Verdict;
  exitCode: number;
  /** Why, for refused / error / stopped and for failures our own bounds decided; otherwise null. */
  message: string | null;
  firmwareId: string;
  productKey: string;
  jobId: string | null;
  jobStatus: string | null;
  firmwareStatus: number | null;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  warnings: string[];
  devices: DeviceResult[];
}

export function devicesOf(s: Snapshot | undefined): DeviceResult[] {
  return (s?.tasks ?? []).map((t) => ({ deviceName: t.deviceName, status: t.status, platformStatus: t.platformStatus, progress: t.progress, desc: t.desc, phase: failurePhaseOf(t.status, t.desc), srcVersion: t.srcVersion, destVersion: t.destVersion }));
}

/** Benches named but never given a task (a refusal before the create): listed with no status. */
export function namedDevices(names: readonly string[]): DeviceResult[] {
  return names.map((deviceName) => ({ deviceName, status: '', platformStatus: '', progress: 0, desc: '', phase: null, srcVersion: '', destVersion: '' }));
}

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c)
    // Characters XML 1.0 forbids never reach the file.
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD]/g, '');
}

type Outcome = 'passed' | 'failure' | 'error' | 'skipped';

function outcomeOf(r: VerifyResult, d: DeviceResult): Outcome {
  if (r.verdict === 'refused' || r.verdict === 'error') return d.status === 'SUCCEEDED' ? 'passed' : 'error';
  if (d.status === 'SUCCEEDED') return 'passed';
  // A stopped watch did not see these end: not failures, just not known.
  if (r.verdict === 'stopped' && d.status !== 'FAILED' && d.status !== 'CANCELED') return 'skipped';
  return 'failure';
}

export function junitXml(r: VerifyResult): string {
  const devices = r.devices.length > 0 ? r.devices : namedDevices(['ota-verify']);
  const outcomes = devices.map((d) => outcomeOf(r, d));
  const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
  const cases = devices.map((d, i) => {
    const o = outcomes[i];
    const detail = d.status ? `${d.deviceName}: ${d.status}${d.desc ? ` - ${d.desc}` : ''} (progress ${d.progress}%, ${d.srcVersion} -> ${d.destVersion})` : d.deviceName;
    let body = '';
    if (o === 'failure') body = `<failure type="${xml(d.phase ?? d.status)}" message="${xml(d.desc || d.status)}">${xml(detail)}</failure>`;
    if (o === 'error') body = `<error type="${xml(r.verdict)}" message="${xml(r.message ?? r.verdict)}">${xml(r.message ?? '')}</error>`;
    if (o === 'skipped') body = `<skipped message="${xml(`not finished when the watch stopped (${d.status || 'no task'}${d.progress ? `, ${d.progress}%` : ''})`)}"/>`;
    return `    <testcase classname="ota-verify.${xml(r.productKey)}" name="${xml(d.deviceName)}" time="${(r.durationMs / 1000).toFixed(3)}">${body ? `\n      ${body}\n    ` : ''}</testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="firmware ${xml(r.firmwareId)}" tests="${devices.length}" failures="${count('failure')}" errors="${count('error')}" skipped="${count('skipped')}" time="${(r.durationMs / 1000).toFixed(3)}" timestamp="${xml(r.startedAt)}">\n    <properties>\n      <property name="jobId" value="${xml(r.jobId ?? '')}"/>\n      <property name="verdict" value="${xml(r.verdict)}"/>\n${r.message ? `      <property name="message" value="${xml(r.message)}"/>\n` : ''}    </properties>\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}

/** Temp file then rename: CI never reads a half-written report. */
export const writeAtomic = writeFileAtomic;
