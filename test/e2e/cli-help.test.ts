// Every CLI's --help, for every command, describes every option; and --version prints the package's.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, runCliToEnd } from '../helpers/processes.js';

const HELPS: [keyof typeof BIN, string[]][] = [
  ['verify', []], ['verify', ['verify']], ['verify', ['watch']], ['verify', ['status']], ['verify', ['cancel']], ['verify', ['firmware']],
  ['agent', []], ['agent', ['run']], ['agent', ['check']],
  ['lab', []], ['lab', ['start']], ['lab', ['firmware', 'add']], ['lab', ['firmware', 'list']], ['lab', ['fault']], ['lab', ['demo']],
];

/** The lines of the help's "Examples:" section that start an example of `<prog> <command…>`. */
function examplesOf(help: string, prog: string, command: string[]): string[] {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'Examples:');
  if (start < 0) return [];
  const head = [prog, ...command].join(' ');
  return lines.slice(start + 1).filter((l) => l.trim().startsWith(`${head} `) || l.trim() === head);
}

/** Option lines of the help's "Options:" section whose text, brackets removed, is empty. */
function undescribedOptions(help: string): string[] {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'Options:');
  if (start < 0) return ['(no Options: section)'];
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    // An option starts near the margin; a wrapped description (which may mention a flag) is indented deeper.
    const m = /^ {1,4}((?:-\w, )?--[\w-]+)(.*)$/.exec(line);
    if (!m) continue;
    const text = (m[2] ?? '').replace(/\[[^\]]*\]?/g, '').trim();
    if (text === '') out.push(m[1] as string);
  }
  return out;
}

describe('CLI help', () => {
  it('finds an option without a description (the check itself)', () => {
    expect(undescribedOptions('Options:\n  --quiet        [boolean] [default: false]\n  --lab  a lab file  [string]\n')).toEqual(['--quiet']);
  });

  it.each(HELPS)('ota-%s %j --help describes every option', async (bin, args) => {
    const r = await runCliToEnd(BIN[bin], [...args, '--help'], { env: { COLUMNS: '80' } });
    expect(r.code, r.stderr).toBe(0);
    expect(undescribedOptions(r.stdout)).toEqual([]);
  });

  it('finds a command without an example (the check itself)', () => {
    expect(examplesOf('Options:\n  --lab  x  [string]\n', 'ota-verify', ['status'])).toEqual([]);
    expect(examplesOf('Examples:\n  ota-verify status J --json  one document\n', 'ota-verify', ['status'])).toHaveLength(1);
  });

  it.each(HELPS.filter(([, args]) => args.length > 0))('ota-%s %j --help shows an example of that command', async (bin, args) => {
    const r = await runCliToEnd(BIN[bin], [...args, '--help'], { env: { COLUMNS: '200' } });
    expect(r.code, r.stderr).toBe(0);
    expect(examplesOf(r.stdout, `ota-${bin}`, args).length).toBeGreaterThan(0);
  });

  it.each(['verify', 'agent', 'lab'] as const)('ota-%s --version prints the package version', async (bin) => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runCliToEnd(BIN[bin], ['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });
});
