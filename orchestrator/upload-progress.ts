// The upload's progress bar: one line redrawn in place, only in a terminal (CI logs get the plain
// "uploading …" and "registered …" lines and nothing per chunk). Redrawn at most ten times a second.
export interface ProgressOut {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBar {
  update(sentBytes: number, totalBytes: number): void;
  /** End the bar's line so other lines can follow (idempotent); a later update starts a new bar line. */
  done(): void;
}

const REDRAW_EVERY_MS = 100;

export function progressBar(out: ProgressOut, nowMs: () => number): ProgressBar | undefined {
  if (!out.isTTY) return undefined;
  /** The rate counts from the first byte sent, not from the digest pass before it. */
  let startedMs: number | undefined;
  let lastDrawMs = -Infinity;
  let drawn = false;
  return {
    update(sent, total) {
      const now = nowMs();
      startedMs ??= now;
      if (sent < total && now - lastDrawMs < REDRAW_EVERY_MS) return;
      lastDrawMs = now;
      // A terminal that reports no width (some CI pseudo-terminals say 0) gets 80 columns.
      const columns = out.columns && out.columns > 20 ? out.columns : 80;
      const share = total > 0 ? Math.min(1, sent / total) : 1;
      const rate = sent / Math.max(0.001, (now - startedMs) / 1000);
      const text = ` ${(share * 100).toFixed(0).padStart(3)}% ${mb(sent)}/${mb(total)} MiB ${mb(rate)} MiB/s`;
      // The bar takes what the terminal's width leaves; the line never wraps.
      const width = Math.max(0, Math.min(40, columns - text.length - 3));
      const full = Math.round(share * width);
      const line = `${width > 0 ? `[${'#'.repeat(full)}${'.'.repeat(width - full)}]` : ''}${text}`;
      out.write(`\r\x1b[2K${line.slice(0, columns - 1)}`);
      drawn = true;
    },
    done() {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
