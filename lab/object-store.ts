// The lab's object store on disk: one folder per object (a random prefix, so two uploads of the same
// name never meet) holding the file, and beside it a small record of its digests for the ETag.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Object names as uploads may give them: no path separators, no `%`, bounded. */
export const OBJECT_NAME = /^[A-Za-z0-9._-]{1,128}$/;
/** An object key: `<folder>/<name>` (the lab makes the folder 16 random hex digits); neither part
 *  may be `.` or `..`, so a key never leaves the store's folder. */
export const OBJECT_KEY = /^(?!\.{1,2}\/)[A-Za-z0-9._-]{1,64}\/(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}$/;
/** What a new key adds before the name (`<16 hex>/`), for callers that budget a URL's length. */
export const KEY_PREFIX_CHARS = 17;

export interface StoredObject {
  key: string;
  size: number;
  md5: string;
  sha256: string;
}

export interface ObjectHead {
  file: string;
  size: number;
  /** Quoted upper-case MD5, as the object store sends it for a simple upload. */
  etag: string;
  lastModified: string;
}

export class ObjectStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Store a stream as a new object; nothing is left behind when the stream fails. */
  async put(name: string, body: NodeJS.ReadableStream): Promise<StoredObject> {
    if (!OBJECT_NAME.test(name) || name === '.' || name === '..') throw new Error(`object name ${JSON.stringify(name.slice(0, 200))} must be 1-128 letters, digits, ".", "_" or "-"`);
    const prefix = randomBytes(8).toString('hex');
    const key = `${prefix}/${name}`;
    const file = join(this.dir, key);
    await mkdir(dirname(file), { recursive: true });
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) { md5.update(chunk); sha256.update(chunk); size += chunk.length; cb(null, chunk); },
    });
    const tmp = `${file}.part`;
    try {
      await pipeline(body, tap, createWriteStream(tmp));
      await rename(tmp, file);
    } catch (err) {
      await rm(dirname(file), { recursive: true, force: true });
      throw err;
    }
    const stored = { key, size, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
    // Beside the object's folder, never inside it: no object key can name this file.
    await writeFile(join(this.dir, `${prefix}.meta.json`), JSON.stringify({ md5: stored.md5, sha256: stored.sha256 }));
    return stored;
  }

  /** Size, ETag and date of an object, or undefined when there is no such object. */
  async head(key: string): Promise<ObjectHead | undefined> {
    if (!OBJECT_KEY.test(key)) return undefined;
    const file = join(this.dir, key);
    let st;
    try {
      st = await stat(file);
    } catch {
      return undefined;
    }
    if (!st.isFile()) return undefined;
    const md5 = await readFile(join(this.dir, `${key.split('/')[0] ?? ''}.meta.json`), 'utf8')
      .then((t) => (JSON.parse(t) as { md5?: unknown }).md5)
      .catch(() => undefined);
    // Objects stored before digests were recorded get a stable stand-in from size and date.
    const tag = typeof md5 === 'string' && /^[0-9a-f]{32}$/.test(md5) ? md5.toUpperCase() : `${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}`;
    return { file, size: st.size, etag: `"${tag}"`, lastModified: st.mtime.toUTCString() };
  }
}
