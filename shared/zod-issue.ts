// A failed zod parse becomes the project's refusal in one way everywhere: the first issue, its field
// as a dotted path ("(root)" when the whole value is wrong), what was expected, and what was found.
import type { ZodError } from 'zod';
import { OtaError, quote } from './errors.js';

export interface FirstIssue {
  /** Dotted path of the offending field; '' for the root. */
  field: string;
  message: string;
  path: readonly PropertyKey[];
}

export function firstIssue(error: ZodError): FirstIssue {
  const issue = error.issues[0];
  const path = issue?.path ?? [];
  return { field: path.map(String).join('.'), message: issue?.message ?? 'is invalid', path };
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
  /** Overrides the "expected" line (default: the issue's own message). */
  expected?: string;
}

/** `<what>: field "<a.b>" <message>`, with `details.field` for callers and tests to switch on. */
export function issueError(code: string, error: ZodError, o: IssueErrorOptions): OtaError {
  const { field, message, path } = firstIssue(error);
  return new OtaError(code, `${o.what}: field "${field || '(root)'}" ${message}`, {
    expected: o.expected ?? message,
    ...('input' in o ? { found: quote(valueAt(o.input, path)) } : {}),
    details: { field },
  });
}
