// One error family for the whole project. `code` is a stable string that tests and callers switch
// on; `expected` / `found` say what was wrong without the caller parsing the message.

export interface OtaErrorFields {
  /** What the value should have been, in words a user understands. */
  expected?: string;
  /** What was found instead (already free of secrets). */
  found?: string;
  cause?: unknown;
  /** Extra machine-readable facts (field name, HTTP status, platform code, …). */
  details?: Record<string, unknown>;
}

export class OtaError extends Error {
  readonly code: string;
  readonly expected: string | undefined;
  readonly found: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, fields: OtaErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'OtaError';
    this.code = code;
    this.expected = fields.expected;
    this.found = fields.found;
    this.details = fields.details ?? {};
  }
}

export function isOtaError(err: unknown, code?: string): err is OtaError {
  return err instanceof OtaError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for log lines and error causes. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Quote a user-supplied value for an error message, cut so a huge payload cannot flood a log. */
export function quote(value: unknown, maxChars = 80): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  const cut = text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
  // Bytes that are not UTF-8 (a mistyped argument, a binary file) reach us as U+FFFD: say so, since
  // the quoted value alone shows only "��".
  return cut.includes('\uFFFD') ? `${JSON.stringify(cut)} (not valid UTF-8 text)` : JSON.stringify(cut);
}
