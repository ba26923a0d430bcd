// The live view on a fake terminal: a screen model that applies what the view writes (text, newline,
/* eslint-disable no-control-regex -- the fake terminal parses the escape sequences the view writes */
// cursor up to line start, clear to end of screen) with the terminal's own wrapping, so the tests see
// what a person sees at 40, 80 and 200 columns and after a resize.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import stringWidth from 'string-width';
import { LiveView } from '../../orchestrator/live-view.js';
import type { Snapshot, TaskView } from '../../orchestrator/watch.js';

/** A terminal that wraps at `columns` and re-wraps its lines when resized (as xterm, VTE and tmux do). */
class FakeTty extends EventEmitter {
  readonly isTTY = true;
  columns: number;
  /** Logical lines (as written, before wrapping); the cursor is at the start of row `cursorRow`. */
  lines: string[] = [''];
  written = '';
  constructor(columns: number) { super(); this.columns = columns; }

  write(s: string): boolean {
    this.written += s;
    const re = /\x1b\[(\d*)([FJ])|\n|[^\x1b\n]+/g;
    for (const m of s.matchAll(re)) {
      if (m[0] === '\n') this.lines.push('');
      else if (m[2] === 'F') this.#up(Number(m[1] || 1));
      else if (m[2] === 'J') this.lines[this.lines.length - 1] = '';
      else this.lines[this.lines.length - 1] += m[0];
    }
    return true;
  }

  /** Rows on screen: each logical line wrapped at the current width. */
  rows(): string[] {
    const out: string[] = [];
    for (const l of this.lines) {
      let rest = l;
      do { out.push(rest.slice(0, this.columns)); rest = rest.slice(this.columns); } while (rest.length > 0);
    }
    return out;
  }

  /** Cursor up n rows to a row start, dropping what is below (the view always clears below). */
  #up(n: number): void {
    const rows = this.rows();
    const keep = rows.slice(0, Math.max(0, rows.length - 1 - n));
    this.lines = [...keep, ''];
  }

  resize(columns: number): void {
    this.columns = columns;
    this.emit('resize');
  }
}

const LONG = 'install hook exited 1: ' + 'x'.repeat(300);

function snapshot(n: number, desc: (i: number) => string, atMs = 60_000): Snapshot {
  const tasks: TaskView[] = Array.from({ length: n }, (_, i) => ({
    taskId: `t${i}`, deviceName: `bench-${String(i + 1).padStart(2, '0')}`, status: i === 4 ? 'FAILED' : 'IN_PROGRESS', platformStatus: 'IN_PROGRESS',
    progress: 40 + i, desc: desc(i), srcVersion: '1.0.0', destVersion: '2.0.0', sinceMs: 0,
  }));
  return { jobId: 'j', firmwareId: 'f', jobStatus: null, firmwareStatus: null, tasks, atMs, done: false, timedOut: false };
}

function screenBlock(tty: FakeTty): string[] {
  return tty.rows().filter((r) => r.length > 0);
}

describe('live view in a terminal', () => {
  for (const width of [40, 80, 200]) {
    it(`keeps every line within ${width} columns, under column headers, with one row per device`, () => {
      const tty = new FakeTty(width);
      const view = new LiveView(tty, false);
      view.say('watching verify job j');
      for (let k = 0; k < 3; k++) view.update(snapshot(10, (i) => (i % 2 ? LONG : `downloading ${k}`), 60_000 + k * 1000), []);
      const lines = tty.written.split(/\n|\x1b\[\d*F\x1b\[J/);
      for (const l of lines) expect(stringWidth(l), l).toBeLessThan(width);
      const rows = screenBlock(tty);
      // The say line, the header, ten devices: nothing duplicated, no stale fragments.
      expect(rows).toHaveLength(12);
      expect(rows[1]).toMatch(/^DEVICE\s+STATUS\s+PROG/);
      if (width >= 80) expect(rows[1]).toContain('IN STATUS');
      expect(rows.filter((r) => r.startsWith('bench-02'))).toHaveLength(1);
      view.close();
    });
  }

  it('redraws correctly after the terminal narrows and widens', () => {
    const tty = new FakeTty(200);
    const view = new LiveView(tty, false);
    view.say('watching verify job j');
    view.update(snapshot(5, () => LONG), []);
    tty.resize(60);
    view.update(snapshot(5, () => LONG, 61_000), []);
    expect(screenBlock(tty)).toHaveLength(7);
    for (const r of screenBlock(tty)) expect(r.length).toBeLessThan(60);
    tty.resize(120);
    view.update(snapshot(5, () => 'done', 62_000), []);
    const rows = screenBlock(tty);
    expect(rows).toHaveLength(7);
    expect(rows[0]).toBe('watching verify job j');
    view.close();
  });

  it('strips control characters a TaskDesc may carry (they would move the cursor)', () => {
    const tty = new FakeTty(80);
    const view = new LiveView(tty, false);
    view.update(snapshot(1, () => 'bad\x1b[2J\nnews'), []);
    expect(tty.written).not.toContain('\x1b[2J');
    expect(screenBlock(tty)[1]).toMatch(/bad \[2J news$/);
  });

  it('prints plain timestamped lines without a terminal, uncut', () => {
    let out = '';
    const view = new LiveView({ write: (s: string) => { out += s; } }, false);
    const s = snapshot(2, () => LONG);
    view.update(s, s.tasks);
    expect(out.split('\n').filter(Boolean)).toHaveLength(2);
    expect(out).toContain(LONG);
    expect(out).not.toContain('\x1b');
  });
});
