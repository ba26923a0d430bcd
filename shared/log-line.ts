// A pino JSON line as a person reads it on a terminal: `12:03:04.512 WARN  message key=value …`.
// It is made from the finished (already redacted) JSON line, so it can show nothing the JSON hid.

const LEVELS: Readonly<Record<number, string>> = Object.freeze({ 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' });
/** Fields every line has, shown in their own place or not at all. */
const FRAME_FIELDS = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname', 'v']);

export type LogFormat = 'json' | 'pretty';

/** `--log-format`: json or pretty; by default pretty on a terminal and JSON otherwise (files, CI, journald). */
export function resolveLogFormat(flag: string | undefined, stream: { isTTY?: boolean }): LogFormat {
  if (flag === 'json' || flag === 'pretty') return flag;
  return stream.isTTY ? 'pretty' : 'json';
}

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

export function prettyLine(jsonLine: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : '';
  const level = (LEVELS[Number(o.level)] ?? String(o.level)).padEnd(5);
  const fields = Object.entries(o).filter(([k]) => !FRAME_FIELDS.has(k)).map(([k, v]) => `${k}=${fieldText(v)}`);
  return `${[time, level, typeof o.msg === 'string' ? o.msg : '', ...fields].filter((x) => x !== '').join(' ')}\n`;
}
