// pino JSON logs with secrets removed twice over (see redact.ts).
import { pino, type Logger, type DestinationStream } from 'pino';
import { redactUrlSecrets, redactValues, SECRET_FIELDS, REDACTED } from './redact.js';
import { prettyLine, resolveLogFormat } from './log-line.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  name: string;
  level?: string;
  /** Where lines go; stderr by default so stdout stays for a program's own output. */
  destination?: { write(line: string): unknown; isTTY?: boolean };
  /** Secret values to scrub from every line whatever field they hide in. */
  secrets?: Iterable<string>;
  /** 'json', 'pretty' (one human line each), or by default pretty when the destination is a terminal. */
  format?: string;
}

export function createLogger(options: LoggerOptions): Logger {
  const secrets = new Set<string>(options.secrets ?? []);
  const target = options.destination ?? process.stderr;
  // A small destination rather than pino-pretty's worker-thread transport: the line is formatted after
  // the scrubbing, in the same synchronous write, so a pretty line can carry nothing the JSON hid.
  const pretty = resolveLogFormat(options.format, target) === 'pretty';
  const scrubbing: DestinationStream = {
    write(line: string) {
      const clean = redactValues(redactUrlSecrets(line), secrets);
      target.write(pretty ? prettyLine(clean) : clean);
    },
  };
  const paths = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env.OTA_LOG_LEVEL ?? 'info',
      redact: { paths, censor: REDACTED },
      base: undefined,
    },
    scrubbing,
  );
}

/** A logger that drops everything, for tests and embedded use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
