// The one conversion of a failed zod parse into the project's refusal.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { firstIssue, issueError } from '../../shared/zod-issue.js';

const schema = z.object({ params: z.object({ version: z.string().max(3, 'at most 3 characters') }) });

function errorOf(input: unknown) {
  const r = schema.safeParse(input);
  if (r.success) throw new Error('expected a failure');
  return r.error;
}

describe('issueError', () => {
  it('names the first bad field as a dotted path, says what was expected and quotes what was found', () => {
    const input = { params: { version: '1.2.3.4' } };
    const err = issueError('BAD_MESSAGE', errorOf(input), { what: 'inform', input });
    expect(err.code).toBe('BAD_MESSAGE');
    expect(err.message).toBe('inform: field "params.version" at most 3 characters');
    expect(err.expected).toBe('at most 3 characters');
    expect(err.found).toBe('"1.2.3.4"');
    expect(err.details).toEqual({ field: 'params.version' });
  });

  it('says (root) when the whole value is wrong, and quotes nothing without an input', () => {
    const err = issueError('INVALID_CONFIG', errorOf('not an object'), { what: 'bench.json', expected: 'a JSON object' });
    expect(err.message).toMatch(/^bench\.json: field "\(root\)" /);
    expect(err.expected).toBe('a JSON object');
    expect(err.found).toBeUndefined();
    expect(firstIssue(errorOf('x')).field).toBe('');
  });
});
