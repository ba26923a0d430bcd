// The lab's state: in memory, or kept in `--state-dir` as one JSON document written atomically
// (temp file, fsync, rename), so a crash mid-write leaves the previous good state, never a torn one.
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { join } from 'node:path';
import { OtaError } from '../shared/errors.js';
import { emptyState, type LabState } from './model.js';
import { StateLookups } from './state-lookups.js';

const STATE_FILE = 'state.json';

export class LabStore {
  readonly state: LabState;
  /** The state's records by key (devices, tasks, jobs, firmware). */
  readonly find: StateLookups;
  readonly #dir: string | undefined;
  #writing: Promise<void> = Promise.resolve();
  #dirty = false;

  private constructor(state: LabState, dir: string | undefined) {
    this.state = state;
    this.find = new StateLookups(state);
    this.#dir = dir;
  }

  /** In memory only. */
  static memory(): LabStore {
    return new LabStore(emptyState(), undefined);
  }

  /** Load `dir/state.json` if it exists; a file that is not a lab state is an error, never overwritten. */
  static async open(dir: string): Promise<LabStore> {
    await mkdir(dir, { recursive: true });
    let text: string | undefined;
    try {
      text = await readFile(join(dir, STATE_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text === undefined) return new LabStore(emptyState(), dir);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new OtaError('STATE_CORRUPT', `${join(dir, STATE_FILE)} is not valid JSON; move it away to start afresh`, { cause });
    }
    if (!parsed || typeof parsed !== 'object' || (parsed as LabState).version !== 1) {
      throw new OtaError('STATE_CORRUPT', `${join(dir, STATE_FILE)} is not a lab state (version 1)`, {
        expected: 'version 1', found: String((parsed as { version?: unknown } | null)?.version),
      });
    }
    return new LabStore({ ...emptyState(), ...(parsed as LabState) }, dir);
  }

  get persistent(): boolean {
    return this.#dir !== undefined;
  }

  newId(prefix: string): string {
    const n = this.state.nextId++;
    return `${prefix}${n.toString(36).padStart(6, '0')}`;
  }

  /** Mark the state changed; writes coalesce so a burst of changes costs one write. */
  changed(): void {
    if (!this.#dir) return;
    if (this.#dirty) return;
    this.#dirty = true;
    this.#writing = this.#writing.then(() => this.#write()).catch(() => undefined);
  }

  /** Wait until every change so far is on disk. */
  async flush(): Promise<void> {
    await this.#writing;
  }

  async #write(): Promise<void> {
    if (!this.#dir) return;
    this.#dirty = false;
    await writeFileAtomic(join(this.#dir, STATE_FILE), JSON.stringify(this.state));
  }
}
