// What ota-verify shows people: in a terminal, a block of one line per device under column headers,
// redrawn in place; without one (CI logs), one plain line per change. Every terminal line fits the
// width (the desc is cut), so no row wraps and the redraw never leaves fragments; after a resize the
// old block is measured at the new width (terminals re-wrap what they show) before it is replaced.
import stringWidth from 'string-width';
import type { Snapshot, TaskView } from './watch.js';
import { withPhase } from './failure-phase.js';

export interface ViewStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
  on?(event: 'resize', fn: () => void): unknown;
  off?(event: 'resize', fn: () => void): unknown;
}

/** Text from the platform (TaskDesc) may hold control characters: they would move the cursor. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}

/** Cut `s` to at most `width` terminal columns, marking the cut with "…". */
export function fit(s: string, width: number): string {
  if (stringWidth(s) <= width) return s;
  if (width <= 0) return '';
  let out = '';
  for (const ch of s) {
    if (stringWidth(out + ch) > width - 1) break;
    out += ch;
  }
  return `${out}…`;
}

function bar(pct: number, width = 20): string {
  const n = Math.round((Math.max(0, Math.min(100, pct)) / 100) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

const COLS = { device: 14, status: 11 };
/** The time column counts how long the device has been in its current status. */
const TIME_HEADER = 'IN STATUS';

export function headerLine(withBar: boolean): string {
  return `${'DEVICE'.padEnd(COLS.device)} ${'STATUS'.padEnd(COLS.status)} ${withBar ? `${'PROGRESS'.padEnd(27)}` : 'PROG'} ${TIME_HEADER}  DESC`;
}

export function deviceLine(t: TaskView, nowMs: number, withBar: boolean): string {
  const progress = `${withBar ? `${bar(t.progress)} ` : ''}${String(Math.round(t.progress)).padStart(3)}%`;
  return `${t.deviceName.padEnd(COLS.device)} ${t.status.padEnd(COLS.status)} ${progress} ${age(nowMs - t.sinceMs).padStart(TIME_HEADER.length)}  ${printable(withPhase(t.status, t.desc))}`.trimEnd();
}

/** A bar needs room: below this width the block leaves it out. */
const BAR_MIN_COLUMNS = 100;

export class LiveView {
  readonly #out: ViewStream;
  readonly #tty: boolean;
  readonly #quiet: boolean;
  /** Widths of the lines of the block on screen, to measure it again after a resize. */
  #drawn: number[] = [];
  #last: Snapshot | undefined;
  readonly #onResize = () => { if (this.#last) this.#draw(this.#last); };

  constructor(out: ViewStream, quiet: boolean) {
    this.#out = out;
    this.#tty = Boolean(out.isTTY);
    this.#quiet = quiet;
    if (this.#tty && !quiet) out.on?.('resize', this.#onResize);
  }

  /** Stop following resizes (the block stays as drawn). Idempotent. */
  close(): void {
    this.#out.off?.('resize', this.#onResize);
    this.#last = undefined;
  }

  say(line: string): void {
    if (this.#quiet) return;
    this.#out.write(`${line}\n`);
    // The block is now above this line: the next update draws a new one below rather than over it.
    this.#drawn = [];
  }

  update(s: Snapshot, changed: TaskView[]): void {
    if (this.#quiet) return;
    if (this.#tty) {
      this.#last = s;
      this.#draw(s);
    } else {
      for (const t of changed) this.#out.write(`${new Date(s.atMs).toISOString()} ${deviceLine(t, s.atMs, false)}\n`);
    }
  }

  #draw(s: Snapshot): void {
    // One column spare: a line exactly as wide as the terminal wraps the cursor on some terminals.
    const columns = Math.max(1, (this.#out.columns ?? 80) - 1);
    const withBar = columns + 1 >= BAR_MIN_COLUMNS;
    const lines = [headerLine(withBar), ...s.tasks.map((t) => deviceLine(t, s.atMs, withBar))].map((l) => fit(l, columns));
    const rows = this.#drawn.reduce((n, w) => n + Math.max(1, Math.ceil(w / (columns + 1))), 0);
    let text = rows > 0 ? `\x1b[${rows}F\x1b[J` : '';
    for (const l of lines) text += `${l}\n`;
    this.#out.write(text);
    this.#drawn = lines.map((l) => stringWidth(l));
  }

  summary(devices: readonly { deviceName: string; status: string; progress: number; desc: string }[]): void {
    if (this.#quiet) return;
    const columns = this.#tty ? Math.max(1, (this.#out.columns ?? 80) - 1) : Infinity;
    const cut = (l: string) => (columns === Infinity ? l : fit(l, columns));
    const rows = devices.map((d) => cut(`  ${d.deviceName.padEnd(COLS.device)} ${(d.status || '-').padEnd(COLS.status)} ${String(Math.round(d.progress)).padStart(3)}%  ${printable(withPhase(d.status, d.desc))}`.trimEnd()));
    this.#out.write(`\n${cut(`  ${'DEVICE'.padEnd(COLS.device)} ${'STATUS'.padEnd(COLS.status)} PROG  DESC`)}\n${rows.join('\n')}\n\n`);
    this.#drawn = [];
  }
}
