// Files a user names on the command line or in a config (a config file, lab.json, a firmware file):
// checked before they are read, so a directory, an empty file, a huge file or one the user may not
// read is refused in words ("is a directory, not a file"), not with Node's errno text
// ("EISDIR: illegal operation on a directory, read"), and never read whole into memory first.
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { OtaError } from './errors.js';

export interface UserFileRules {
  /** What the file is, as the user calls it: "config file", "firmware file". */
  what: string;
  /** The OtaError code of a refusal (each CLI maps codes to its exit codes). */
  code: string;
  /** What the file should be, for the refusal's `expected:` line. */
  expected: string;
  /** Larger files are refused before they are read. */
  maxBytes: number;
}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'does not exist',
  EACCES: 'cannot be read (permission denied)',
  EPERM: 'cannot be read (permission denied)',
  ENOTDIR: 'does not exist (a part of its path is not a directory)',
  ELOOP: 'cannot be read (too many symbolic links)',
  ENAMETOOLONG: 'cannot be read (the name is too long)',
};

/** A failed stat/access/read in words, not Node's errno text. */
function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return REASONS[code] ?? `cannot be read (${code || 'unknown error'})`;
}

function sizeWords(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} bytes`;
}

/** The file's size once it is known to be a readable, non-empty regular file within the bound. */
export async function checkUserFile(path: string, r: UserFileRules): Promise<number> {
  const refuse = (why: string, cause?: unknown) => new OtaError(r.code, `${r.what} ${path} ${why}`, { expected: r.expected, ...(cause === undefined ? {} : { cause }) });
  let size: number;
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw refuse('is a directory, not a file');
    if (!s.isFile()) throw refuse('is not a regular file');
    size = s.size;
    await access(path, constants.R_OK);
  } catch (err) {
    if (err instanceof OtaError) throw err;
    throw refuse(reasonOf(err), err);
  }
  if (size === 0) throw refuse('is empty');
  if (size > r.maxBytes) {
    // Just over the bound both round to the same words ("13.0 MiB: more than the 13.0 MiB"): say the bytes then.
    const [found, bound] = sizeWords(size) === sizeWords(r.maxBytes) ? [`${size} bytes`, `${r.maxBytes} bytes`] : [sizeWords(size), sizeWords(r.maxBytes)];
    throw refuse(`is ${found}: more than the ${bound} a ${r.what} can be`);
  }
  return size;
}

/** The text of a small file (config, lab.json) after the checks above. */
export async function readUserFile(path: string, r: UserFileRules): Promise<string> {
  await checkUserFile(path, r);
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new OtaError(r.code, `${r.what} ${path} ${reasonOf(cause)}`, { expected: r.expected, cause });
  }
}
