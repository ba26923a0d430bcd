// A failed zod parse becomes the project's refusal in one way everywhere: the first issue, its field
// as a dotted path ("(root)" when the whole value is wrong), what was expected, and what was found.
import type { ZodError } from 'zod';
import { OtaError, quote } from './errors.js';
import { closest } from './usage-message.js';

export interface FirstIssue {
  /** Dotted path of the offending field; '' for the root. */
  field: string;
  message: string;
  path: readonly PropertyKey[];
}

/** zod's own default messages start so; a schema's custom message already says what is expected. */
const ZOD_DEFAULT_MESSAGE = /^(Too small|Too big|Invalid input|Invalid option)\b/;

type Issue = ZodError['issues'][number];

/** What a value should have been, in words, from zod's issue (not its message repeated). */
export function expectedOf(issue: Issue | undefined): string | undefined {
  if (!issue || !ZOD_DEFAULT_MESSAGE.test(issue.message)) return undefined;
  const i = issue as Issue & { origin?: string; minimum?: unknown; maximum?: unknown; inclusive?: boolean; expected?: string; values?: unknown[] };
  const unit = i.origin === 'string' ? ' characters' : i.origin === 'array' ? ' items' : '';
  switch (i.code) {
    case 'too_small':
      return unit ? `at least ${String(i.minimum)}${unit}` : `a number ${i.inclusive === false ? '>' : '>='} ${String(i.minimum)}`;
    case 'too_big':
      return unit ? `at most ${String(i.maximum)}${unit}` : `a number ${i.inclusive === false ? '<' : '<='} ${String(i.maximum)}`;
    case 'invalid_type':
      return i.expected === 'object' ? 'a JSON object' : i.expected === 'array' ? 'a JSON array' : `a ${String(i.expected)}`;
    case 'invalid_value':
      return `one of ${(i.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return undefined;
  }
}

/** What is wrong, for zod's own default messages (which otherwise say it twice with the expected line). */
function problemOf(issue: Issue | undefined): string | undefined {
  if (!issue || !ZOD_DEFAULT_MESSAGE.test(issue.message)) return undefined;
  const origin = (issue as { origin?: string }).origin;
  const sized = origin === 'string' || origin === 'array';
  switch (issue.code) {
    case 'too_small': return sized ? 'is too short' : 'is too small';
    case 'too_big': return sized ? 'is too long' : 'is too large';
    case 'invalid_type': return /received undefined$/.test(issue.message) ? 'is missing' : 'has the wrong type';
    case 'invalid_value': return 'is not one of the choices';
    default: return undefined;
  }
}

export function firstIssue(error: ZodError): FirstIssue {
  const issue = error.issues[0];
  const path = issue?.path ?? [];
  return { field: path.map(String).join('.'), message: problemOf(issue) ?? issue?.message ?? 'is invalid', path };
}

/** The value at `path` inside `value`, or undefined when the path leaves the object. */
export function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

export interface IssueErrorOptions {
  /** What was being read, e.g. the file name or "inform": the message starts with it. */
  what: string;
  /** The parsed input, to quote the offending value as `found`. */
  input?: unknown;
  /** Overrides the "expected" line (default: from the issue). */
  expected?: string;
  /** The known field names of the object at a dotted path ('' for the root): an unknown field is
   *  answered with the closest one. */
  knownFieldsAt?: (field: string) => readonly string[] | undefined;
}

/** `<what>: field "<a.b>" <message>`, with `details.field` for callers and tests to switch on. */
export function issueError(code: string, error: ZodError, o: IssueErrorOptions): OtaError {
  const { field, message, path } = firstIssue(error);
  const issue = error.issues[0];
  if (issue?.code === 'unrecognized_keys' && issue.keys.length > 0) {
    const unknown = issue.keys[0] as string;
    const known = o.knownFieldsAt?.(field);
    const guess = known ? closest(unknown, known) : undefined;
    const where = field ? ` in "${field}"` : '';
    return new OtaError(code, `${o.what}: unknown field ${unknown}${where}${guess ? ` (did you mean ${guess}?)` : ''}`, {
      expected: o.expected ?? (known ? `only these fields: ${known.join(', ')}` : 'only the documented fields'),
      details: { field: field ? `${field}.${unknown}` : unknown },
    });
  }
  return new OtaError(code, `${o.what}: field "${field || '(root)'}" ${message}`, {
    expected: o.expected ?? expectedOf(issue) ?? issue?.message ?? message,
    ...('input' in o ? { found: quote(valueAt(o.input, path)) } : {}),
    details: { field },
  });
}
