// What every CLI entry shares: one way to print an error (what was wrong, what was expected, never a
// secret) and to turn it into an exit code.
import { isOtaError, errorMessage } from './errors.js';
import { redactUrlSecrets } from './redact.js';

/** Usage errors (bad flags, bad files) exit 2 in all three programs. */
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Print one error to stderr in the project's shape: `<prog>: <message>` then `  expected: …`. */
export function printError(prog: string, err: unknown): void {
  const lines = [`${prog}: ${redactUrlSecrets(errorMessage(err))}`];
  if (isOtaError(err) && err.expected) lines.push(`  expected: ${err.expected}`);
  process.stderr.write(`${lines.join('\n')}\n`);
}

/** Run a CLI's main; an uncaught error is printed and mapped by `exitCodeOf`. */
export async function runCli(prog: string, main: () => Promise<number>, exitCodeOf: (err: unknown) => number): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (err) {
    printError(prog, err);
    process.exitCode = err instanceof UsageError ? EXIT_USAGE : exitCodeOf(err);
  }
}

/** Resolves on the first SIGINT or SIGTERM. Call it before starting work, so a signal during
 *  start-up is not lost (the default handler would kill the process instead of stopping it). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (sig: NodeJS.Signals) => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(sig); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
