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

/** What a port flag takes, in the words of both its refusals (bad value, no value). */
export const PORT_WORDS = 'a port from 0 to 65535 (0 picks a free one)';

export const portNumber = (flag: string) => wholeNumber(flag, 0, 65535, PORT_WORDS);

/** A digest method as the platform spells it (MD5, SHA256), typed in any case, as the agent reads notices. */
export function signMethod(flag: string): (v: unknown) => 'MD5' | 'SHA256' {
  return (v) => {
    const up = String(v).toUpperCase();
    if (up === 'MD5' || up === 'SHA256') return up;
    throw new UsageError(`--${flag} ${String(v)} is not valid: expected MD5 or SHA256 (any case)`);
  };
}

/** The parts of yargs' option table read here (yargs keeps it on the instance; its types omit it). */
interface OptionTable {
  key: Record<string, unknown>;
  boolean: string[];
  count: string[];
  alias: Record<string, string[]>;
  choices: Record<string, unknown[]>;
  number: string[];
}
interface YargsView {
  getOptions(): OptionTable;
  getInternalMethods?(): { getUsageInstance(): { getDescriptions(): Record<string, string | undefined> } };
}

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** What each value flag of a CLI takes, in a user's words ("the product key of the test devices"):
 *  keyed by the option's name, or by "COMMAND NAME" where one name means different things in two
 *  commands. Kept apart from --help, whose sentences say what an option does, not what to type. */
export type FlagExpects = Readonly<Record<string, string>>;

/** What a value flag takes: its phrase, else its choices, else (an option without a phrase) its help. */
function expectedOf(key: string, command: string, expects: FlagExpects, o: OptionTable, y: YargsView): string {
  const phrase = expects[`${command} ${key}`] ?? expects[key];
  if (phrase !== undefined) return phrase;
  const choices = o.choices[key];
  if (choices && choices.length > 0) return `one of ${choices.join(', ')}`;
  const described = y.getInternalMethods?.().getUsageInstance().getDescriptions()[key];
  if (typeof described === 'string' && described && !described.startsWith('__yargsString__')) return described;
  return o.number.includes(key) ? 'a number' : 'a value';
}

/** yargs gives a flag typed without its value its default (or '' / undefined), so `--api-port` alone
 *  silently meant "any port". This reads the raw argv against the running command's option table
 *  (so it covers every flag of every command of a CLI, present and future) and refuses a value flag
 *  with nothing after it, an empty `--flag=`, or a flag followed by another flag. Register it with
 *  `.middleware(requireFlagValues(prog, argv, expects), true)`: it runs before the flags' own checks (coerce). */
export function requireFlagValues(prog: string, argv: readonly string[], expects: FlagExpects): (args: unknown, y?: unknown) => void {
  return (args, y) => {
    // The command's name, for the phrases a name has in one command only ("demo devices").
    const first = (args as { _?: unknown[] } | undefined)?._?.[0];
    const command = typeof first === 'string' ? first : '';
    const view = y as YargsView;
    const o = view.getOptions();
    const takesValue = new Map<string, string>();
    // Aliases first name their option's own key, whose --help line says what it takes.
    for (const key of [...Object.keys(o.alias), ...Object.keys(o.key)]) {
      if (o.boolean.includes(key) || o.count.includes(key) || takesValue.has(key)) continue;
      for (const name of [key, ...(o.alias[key] ?? [])]) {
        takesValue.set(name, key);
        takesValue.set(camel(name), key);
      }
    }
    for (let i = 0; i < argv.length; i++) {
      const token = argv[i] as string;
      if (token === '--') return;
      if (!token.startsWith('--')) continue;
      const eq = token.indexOf('=');
      const name = token.slice(2, eq < 0 ? undefined : eq);
      const key = takesValue.get(name);
      if (key === undefined) continue;
      // As yargs reads it: the next word is the value unless it is a flag (a negative number is a value).
      const next = eq < 0 ? argv[i + 1] : token.slice(eq + 1);
      const missing = next === undefined || next === '' || (eq < 0 && next.startsWith('-') && !/^-\.?\d/.test(next));
      if (missing) throw new UsageError(`--${name} needs a value: ${expectedOf(key, command, expects, o, view)} (see ${prog} --help)`);
    }
  };
}
