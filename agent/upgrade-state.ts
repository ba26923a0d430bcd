// One upgrade per module, one explicit state, persisted atomically in the work directory so that a
// restart (SIGKILL, power cut, a hook that reboots the bench) resumes where it was.
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { join } from 'node:path';
import { OtaError } from '../shared/errors.js';
import type { SignMethod } from '../shared/messages.js';

export type UpgradeState = 'downloading' | 'verifying' | 'installing' | 'reporting' | 'self-testing' | 'rolling-back' | 'needs-recovery' | 'done' | 'failed';

const MOVES: Readonly<Record<UpgradeState, readonly UpgradeState[]>> = {
  downloading: ['verifying', 'failed'],
  verifying: ['installing', 'failed'],
  installing: ['reporting', 'rolling-back', 'failed'],
  reporting: ['self-testing', 'done', 'rolling-back', 'failed'],
  // The soak: done only when every run passed; a failed run puts the previous firmware back.
  'self-testing': ['done', 'rolling-back', 'failed'],
  // failed = back on the previous version; needs-recovery = the rollback itself failed.
  'rolling-back': ['failed', 'needs-recovery'],
  // Left only by recoverCommand succeeding or an operator's `ota-agent reset`.
  'needs-recovery': ['failed'],
  done: [],
  failed: [],
};

export interface PlannedFile {
  name: string;
  url: string;
  size: number;
  sign: string;
  partPath: string;
}

/** What the accept step made of a notice: everything the later steps need. */
export interface UpgradePlan {
  module: string;
  version: string;
  signMethod: SignMethod;
  size: number;
  sign: string;
  extData: Record<string, unknown>;
  files: PlannedFile[];
}

export interface UpgradeRecord extends UpgradePlan {
  state: UpgradeState;
  startedAtMs: number;
  /** Why it failed, for the log and `ota-agent check`. */
  failure?: string;
  /** The module's version before the install (what a rollback goes back to); null when it was unreadable. */
  previousVersion?: string | null;
  /** Which phase failed ('install', 'version', 'self-test'), for the rollback's OTA_FAILED_STEP. */
  failedPhase?: string;
  /** The platform step code the failure was reported with (a restarted rollback reports it again). */
  failedStep?: number;
}

/** States an agent start resumes (the others are final or wait for an operator). */
export function isResumable(state: UpgradeState): boolean {
  return state !== 'done' && state !== 'failed' && state !== 'needs-recovery';
}

export function moveUpgrade(rec: UpgradeRecord, to: UpgradeState): void {
  if (!MOVES[rec.state].includes(to)) {
    throw new OtaError('ILLEGAL_TRANSITION', `upgrade of ${rec.module} to ${rec.version} cannot go from ${rec.state} to ${to}`, { expected: MOVES[rec.state].join(', ') || 'no change', found: to });
  }
  rec.state = to;
}

interface DiskState {
  version: 1;
  /** The version of each module as last installed by this agent (used when no versionCommand). */
  versions: Record<string, string>;
  upgrades: Record<string, UpgradeRecord>;
}

const FILE = 'agent-state.json';

export class AgentStore {
  readonly dir: string;
  readonly state: DiskState;
  #writing: Promise<void> = Promise.resolve();

  private constructor(dir: string, state: DiskState) {
    this.dir = dir;
    this.state = state;
  }

  static async open(dir: string): Promise<AgentStore> {
    await mkdir(join(dir, 'downloads'), { recursive: true });
    let state: DiskState = { version: 1, versions: {}, upgrades: {} };
    try {
      const parsed = JSON.parse(await readFile(join(dir, FILE), 'utf8')) as DiskState;
      if (parsed && parsed.version === 1) state = { ...state, ...parsed };
    } catch (err) {
      // A missing file is a first start; an unreadable one was never completely written (we rename
      // into place), so it cannot be ours: start clean rather than guess.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') state = { version: 1, versions: {}, upgrades: {} };
    }
    return new AgentStore(dir, state);
  }

  /** Persist now; writes are serialised and each is temp file + fsync + rename. */
  save(): Promise<void> {
    const snapshot = JSON.stringify(this.state);
    this.#writing = this.#writing.then(() => writeFileAtomic(join(this.dir, FILE), snapshot));
    return this.#writing;
  }

  partPath(module: string, version: string, index: number): string {
    const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
    return join(this.dir, 'downloads', `${safe(module)}-${safe(version)}-${index}.part`);
  }

  /** Remove part files that no live upgrade refers to: the work directory never grows without bound. */
  async sweep(): Promise<void> {
    const live = new Set(Object.values(this.state.upgrades).filter((u) => isResumable(u.state)).flatMap((u) => u.files.map((f) => f.partPath)));
    for (const name of await readdir(join(this.dir, 'downloads'))) {
      const p = join(this.dir, 'downloads', name);
      if (!live.has(p)) await rm(p, { force: true });
    }
  }
}
