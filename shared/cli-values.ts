// Flag values checked where they are parsed (yargs `coerce`), so every refusal names the flag the user
// typed and says what it takes, instead of a NaN reaching an option schema ("apiPort … NaN").
import { UsageError } from './cli-support.js';

/** A whole number from `min` to `max`; yargs gives NaN for `--api-port 80x`, so the raw text is checked. */
export function wholeNumber(flag: string, min: number, max: number, what = `a whole number from ${min} to ${max}`): (v: unknown) => number {
  // yargs calls a coerce only for a flag that is given (or has a default).
  return (v) => {
    const text = Array.isArray(v) ? String(v.at(-1)) : String(v);
    if (text === '' || text === 'true') throw new UsageError(`--${flag} needs a value: ${what}`);
    const n = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${flag} ${text} is not valid: expected ${what}`);
    return n;
  };
}

export const portNumber = (flag: string) => wholeNumber(flag, 0, 65535, 'a port from 0 to 65535 (0 picks a free one)');

/** A digest method as the platform spells it (MD5, SHA256), typed in any case, as the agent reads notices. */
export function signMethod(flag: string): (v: unknown) => 'MD5' | 'SHA256' {
  return (v) => {
    const up = String(v).toUpperCase();
    if (up === 'MD5' || up === 'SHA256') return up;
    throw new UsageError(`--${flag} ${String(v)} is not valid: expected MD5 or SHA256 (any case)`);
  };
}
