// yargs' refusals in the user's words: "Unknown arguments: lab, verfy" becomes "unknown command
// 'verfy' (did you mean verify?)", and "Not enough non-option arguments: got 0, need at least 1"
// becomes "status needs a JOB_ID", and "Unknown argument: junit" after `status` becomes "status does
// not take --junit". Anything else passes through unchanged.
import { UsageError } from './cli-support.js';

export interface CommandSpec {
  /** Command words as typed first, e.g. `verify`, `firmware`. */
  commands: readonly string[];
  /** What each command's positional is called, e.g. { status: 'a JOB_ID' }. */
  positionals: Readonly<Record<string, string>>;
  /** Second-level command words, e.g. { firmware: ['add', 'list'] }. */
  subcommands?: Readonly<Record<string, readonly string[]>>;
}

/** Edit distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (!best || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.max(1, Math.ceil(best.c.length / 3)) ? best.c : undefined;
}

export function usageMessage(msg: string, argv: readonly string[], spec: CommandSpec): string {
  const first = argv.find((a) => !a.startsWith('-'));
  if (first !== undefined && !spec.commands.includes(first) && /^Unknown arguments?:/.test(msg)) {
    const guess = closest(first, spec.commands);
    return guess ? `unknown command '${first}' (did you mean ${guess}?)` : `unknown command '${first}'; the commands are ${spec.commands.join(', ')}`;
  }
  // yargs: "Invalid values:\n  Argument: fail, Given: true, Choices: ..." (Given: true when no value followed).
  const invalid = /^Invalid values:\s*Argument: ([\w-]+), Given: (.*?), Choices: (.*)$/s.exec(msg.trim());
  if (invalid) {
    const [, flag, given, choices] = invalid as unknown as [string, string, string, string];
    const list = choices.replace(/"/g, '');
    return given === 'true' || given === '""' ? `--${flag} needs a value: one of ${list}` : `--${flag} ${given.replace(/^"|"$/g, '')} is not valid: expected one of ${list}`;
  }
  const unknown = /^Unknown arguments?: (.+)$/.exec(msg);
  const subs = first === undefined ? undefined : spec.subcommands?.[first];
  const second = argv.filter((a) => !a.startsWith('-'))[1];
  if (subs && unknown && second !== undefined && !subs.includes(second)) {
    const guess = closest(second, subs);
    return guess ? `unknown ${first} command '${second}' (did you mean ${guess}?)` : `unknown ${first} command '${second}'; the ${first} commands are ${subs.join(', ')}`;
  }
  if (first !== undefined && spec.commands.includes(first) && unknown) {
    // yargs names an unknown --poll-min-ms twice (as given and camelCased): keep what the user typed.
    const flags = (unknown[1] as string).split(', ').filter((n) => argv.some((a) => a === `--${n}` || a.startsWith(`--${n}=`) || a === `--no-${n}`));
    if (flags.length > 0) return `${first} does not take ${flags.map((f) => `--${f}`).join(', ')}`;
  }
  if (first !== undefined && /^Not enough non-option arguments/.test(msg)) {
    const what = spec.positionals[first];
    if (what) return `${first} needs ${what}`;
  }
  return msg;
}

/** yargs' `fail` handler for a CLI: a command's own error passes through; yargs' refusals, and the
 *  errors a flag's `coerce` threw (which yargs re-wraps as a YError), become one UsageError (exit 2). */
export function usageFailure(prog: string, argv: readonly string[], spec: CommandSpec): (msg: string | null, err: Error | undefined) => never {
  return (msg, err) => {
    if (err && err.name !== 'YError') throw err;
    throw new UsageError(`${usageMessage(err?.message ?? msg ?? 'bad usage', argv, spec)} (see ${prog} --help)`);
  };
}
