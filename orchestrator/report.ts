// What ota-verify tells people and CI: a live view (one redrawn line per device in a terminal, one
// plain line per change otherwise), a summary table, the JSON document and the JUnit file.
import { writeFileAtomic } from '../shared/atomic-file.js';
import { failurePhaseOf, withPhase, type FailurePhase } from './failure-phase.js';
import type { Snapshot, TaskView } from './watch.js';

/** The JSON document's shape, `schema: "ota-verify/result@1"`, documented in README.md. */
export interface VerifyResult {
  schema: 'ota-verify/result@1';
  verdict: 'verified' | 'failed' | 'already-verified' | 'no-verification-needed' | 'stopped' | 'created';
  exitCode: number;
  firmwareId: string;
  productKey: string;
  jobId: string | null;
  jobStatus: string | null;
  firmwareStatus: number | null;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  warnings: string[];
  /** `phase`: where a FAILED device failed, read from its desc (null when not failed or not said). */
  devices: { deviceName: string; status: string; progress: number; desc: string; phase: FailurePhase | null; srcVersion: string; destVersion: string }[];
}

export function devicesOf(s: Snapshot | undefined): VerifyResult['devices'] {
  return (s?.tasks ?? []).map((t) => ({ deviceName: t.deviceName, status: t.status, progress: t.progress, desc: t.desc, phase: failurePhaseOf(t.status, t.desc), srcVersion: t.srcVersion, destVersion: t.destVersion }));
}

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string)
    // Characters XML 1.0 forbids never reach the file.
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD]/g, '');
}

export function junitXml(r: VerifyResult): string {
  const failures = r.devices.filter((d) => d.status !== 'SUCCEEDED').length;
  const cases = r.devices.map((d) => {
    const body = d.status === 'SUCCEEDED' ? '' : `\n      <failure type="${xml(d.phase ?? d.status)}" message="${xml(d.desc || d.status)}">${xml(`${d.deviceName}: ${d.status}${d.desc ? ` - ${d.desc}` : ''} (progress ${d.progress}%, ${d.srcVersion} -> ${d.destVersion})`)}</failure>\n    `;
    return `    <testcase classname="ota-verify.${xml(r.productKey)}" name="${xml(d.deviceName)}" time="${(r.durationMs / 1000).toFixed(3)}">${body}</testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="firmware ${xml(r.firmwareId)}" tests="${r.devices.length}" failures="${failures}" errors="0" time="${(r.durationMs / 1000).toFixed(3)}" timestamp="${xml(r.startedAt)}">\n    <properties>\n      <property name="jobId" value="${xml(r.jobId ?? '')}"/>\n      <property name="verdict" value="${xml(r.verdict)}"/>\n    </properties>\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}

/** Temp file then rename: CI never reads a half-written report. */
export const writeAtomic = writeFileAtomic;

function bar(pct: number, width = 20): string {
  const n = Math.round((Math.max(0, Math.min(100, pct)) / 100) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function deviceLine(t: TaskView, nowMs: number, withBar: boolean): string {
  return `${t.deviceName.padEnd(14)} ${t.status.padEnd(11)} ${withBar ? `${bar(t.progress)} ` : ''}${String(Math.round(t.progress)).padStart(3)}%  ${age(nowMs - t.sinceMs).padStart(6)}  ${withPhase(t.status, t.desc)}`.trimEnd();
}

export class LiveView {
  readonly #out: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  readonly #tty: boolean;
  readonly #quiet: boolean;
  #drawn = 0;

  constructor(out: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean }, quiet: boolean) {
    this.#out = out;
    this.#tty = Boolean(out.isTTY);
    this.#quiet = quiet;
  }

  say(line: string): void {
    if (!this.#quiet) this.#out.write(`${line}\n`);
  }

  update(s: Snapshot, changed: TaskView[]): void {
    if (this.#quiet) return;
    if (this.#tty) {
      // Redraw the block of device lines in place.
      const lines = s.tasks.map((t) => deviceLine(t, s.atMs, true));
      let text = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : '';
      for (const l of lines) text += `\x1b[2K${l}\n`;
      this.#out.write(text);
      this.#drawn = lines.length;
    } else {
      for (const t of changed) this.#out.write(`${new Date(s.atMs).toISOString()} ${deviceLine(t, s.atMs, false)}\n`);
    }
  }

  summary(r: VerifyResult): void {
    if (this.#quiet) return;
    const rows = r.devices.map((d) => `  ${d.deviceName.padEnd(14)} ${d.status.padEnd(11)} ${String(Math.round(d.progress)).padStart(3)}%  ${withPhase(d.status, d.desc)}`.trimEnd());
    this.#out.write(`\n  ${'DEVICE'.padEnd(14)} ${'STATUS'.padEnd(11)} PROG  DESC\n${rows.join('\n')}\n\n`);
  }
}
