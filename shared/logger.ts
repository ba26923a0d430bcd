// pino JSON logs with secrets removed twice over (see redact.ts).
import { pino, type Logger, type DestinationStream } from 'pino';
import { redactUrlSecrets, redactValues, SECRET_FIELDS, REDACTED } from './redact.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  name: string;
  level?: string;
  /** Where lines go; stderr by default so stdout stays for a program's own output. */
  destination?: { write(line: string): unknown };
  /** Secret values to scrub from every line whatever field they hide in. */
  secrets?: Iterable<string>;
}

export function createLogger(options: LoggerOptions): Logger {
  const secrets = new Set<string>(options.secrets ?? []);
  const target = options.destination ?? process.stderr;
  const scrubbing: DestinationStream = {
    write(line: string) {
      target.write(redactValues(redactUrlSecrets(line), secrets));
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
