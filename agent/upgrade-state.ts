// One upgrade per module, one explicit state, persisted atomically in the work directory so that a
// restart (SIGKILL, power cut, a hook that reboots the bench) resumes where it was.
import { constants } from 'node:fs';
import { access, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { OtaError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

const STATES = ['downloading', 'verifying', 'installing', 'reporting', 'self-testing', 'rolling-back', 'needs-recovery', 'done', 'failed', 'cancelled'] as const;
export type UpgradeState = (typeof STATES)[number];

/** Failure and cancel (a newer notice replaced it) are moves like any other; the last three are final. */
const MOVES: Readonly<Record<UpgradeState, readonly UpgradeState[]>> = {
  downloading: ['verifying', 'failed', 'cancelled'],
  verifying: ['installing', 'failed', 'cancelled'],
  // A failed install puts the previous firmware back; a newer notice cancels before the hook changed anything.
  installing: ['reporting', 'rolling-back', 'failed', 'cancelled'],
  reporting: ['self-testing', 'done', 'rolling-back', 'failed', 'cancelled'],
  // The soak: done only when every run passed; a failed run puts the previous firmware back.
  'self-testing': ['done', 'rolling-back', 'failed', 'cancelled'],
  // failed = back on the previous version; needs-recovery = the rollback itself failed. A newer
  // notice waits for a running rollback, so it is never cancelled half-way.
  'rolling-back': ['failed', 'needs-recovery'],
  // Left only by recoverCommand succeeding or an operator's `ota-agent reset`.
  'needs-recovery': ['failed'],
  done: [],
  failed: [],
  cancelled: [],
};

export function isFinal(s: UpgradeState): boolean {
  return MOVES[s].length === 0;
}

// What a record on disk must look like to be resumed. The bounds are generous (the notice intake
// applies the strict ones); they keep a hand-edited or foreign file from feeding the flow nonsense.
const plannedFileSchema = z.object({
  name: z.string().max(256),
  url: z.string().max(8192),
  size: z.number().int().nonnegative(),
  sign: z.string().max(256),
  partPath: z.string().min(1).max(4096),
});

const recordSchema = z.object({
  module: z.string().min(1).max(64),
  version: z.string().min(1).max(64),
  signMethod: z.enum(['MD5', 'SHA256']),
  size: z.number().int().nonnegative(),
  sign: z.string().max(256),
  extData: z.record(z.string(), z.unknown()),
  files: z.array(plannedFileSchema).min(1).max(64),
  state: z.enum(STATES),
  startedAtMs: z.number(),
  /** Why it failed, for the log and `ota-agent status`. */
  failure: z.string().optional(),
  /** The module's version before the install (what a rollback goes back to); null when it was unreadable. */
  previousVersion: z.string().max(64).nullable().optional(),
  /** Which phase failed ('install', 'version', 'self-test'), for the rollback's OTA_FAILED_STEP. */
  failedPhase: z.enum(['install', 'version', 'self-test']).optional(),
  /** The platform step code the failure was reported with (a restarted rollback reports it again). */
  failedStep: z.number().int().min(-4).max(-1).optional(),
  download: z.object({ startedAtMs: z.number(), failedAttempts: z.number().int().nonnegative() }).optional(),
});

export type PlannedFile = z.output<typeof plannedFileSchema>;
export type UpgradeRecord = z.output<typeof recordSchema>;
/** What the accept step made of a notice: everything the later steps need. */
export type UpgradePlan = Omit<UpgradeRecord, 'state' | 'startedAtMs' | 'failure' | 'download' | 'previousVersion' | 'failedPhase' | 'failedStep'>;

/** States an agent start resumes (the others are final or wait for an operator). */
export function isResumable(state: UpgradeState): boolean {
  return !isFinal(state) && state !== 'needs-recovery';
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
/** The state holds signed download URLs: only the agent's user may read it. */
const STATE_FILE_MODE = 0o600;
const STATE_FILE_MAX_BYTES = 16 * 1024 * 1024;

/** Keep every part of a state file that is well formed; say what was dropped and why. */
function salvage(raw: unknown, file: string, log: Logger): DiskState {
  const state: DiskState = { version: 1, versions: {}, upgrades: {} };
  const dropped: string[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || (raw as { version?: unknown }).version !== 1) {
    log.warn({ file }, 'upgrade state file is not a version 1 state object; starting with an empty state');
    return state;
  }
  const r = raw as { versions?: unknown; upgrades?: unknown };
  if (r.versions && typeof r.versions === 'object' && !Array.isArray(r.versions)) {
    for (const [m, v] of Object.entries(r.versions)) {
      if (typeof v === 'string' && v.length > 0 && v.length <= 64) state.versions[m] = v;
      else dropped.push(`versions.${m}`);
    }
  } else if (r.versions !== undefined) dropped.push('versions');
  if (r.upgrades && typeof r.upgrades === 'object' && !Array.isArray(r.upgrades)) {
    for (const [m, u] of Object.entries(r.upgrades)) {
      const parsed = recordSchema.safeParse(u);
      if (parsed.success && parsed.data.module === m) state.upgrades[m] = parsed.data;
      else dropped.push(`upgrades.${m}`);
    }
  } else if (r.upgrades !== undefined) dropped.push('upgrades');
  if (dropped.length > 0) log.warn({ file, dropped: dropped.slice(0, 20) }, 'upgrade state file had malformed entries; they were discarded');
  return state;
}

/** A recursive mkdir on a read-only mount says ENOENT; ask the nearest existing folder for the real reason (EROFS, EACCES). */
async function whyNotWritable(dir: string, err: unknown): Promise<string> {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return errorMessage(err);
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      await access(d, constants.F_OK);
    } catch {
      if (d === dirname(d)) break;
      continue;
    }
    try {
      await access(d, constants.W_OK);
    } catch (e) {
      return errorMessage(e);
    }
    break;
  }
  return errorMessage(err);
}

export class AgentStore {
  readonly dir: string;
  readonly state: DiskState;
  /** The last write, settled either way: one failed save must not fail the saves after it. */
  #writing: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, state: DiskState) {
    this.dir = dir;
    this.state = state;
  }

  /** Open (or create) the work directory. Throws INVALID_CONFIG when it cannot be written. */
  static async open(dir: string, log: Logger): Promise<AgentStore> {
    try {
      await mkdir(join(dir, 'downloads'), { recursive: true });
      // Creating a file is the only reliable test (a read-only mount, a full quota, root's access).
      const probe = join(dir, `.write-probe-${process.pid}`);
      await writeFile(probe, '');
      await rm(probe, { force: true });
    } catch (cause) {
      throw new OtaError('INVALID_CONFIG', `work dir ${dir} is not writable: ${await whyNotWritable(dir, cause)}`, { cause, expected: 'a writable directory for downloads and the upgrade state', details: { field: 'workDir' } });
    }
    return AgentStore.read(dir, log);
  }

  /** The state in a work directory, read only (no folder created, no write probe): `ota-agent status`. */
  static async read(dir: string, log: Logger): Promise<AgentStore> {
    const file = join(dir, FILE);
    let state: DiskState = { version: 1, versions: {}, upgrades: {} };
    let text: string | undefined;
    try {
      // Our own state is a few KiB per module: anything this big was not written by us.
      const { size } = await stat(file);
      if (size > STATE_FILE_MAX_BYTES) log.warn({ file, size, maxBytes: STATE_FILE_MAX_BYTES }, 'upgrade state file is too large; discarded, starting with an empty state');
      else text = await readFile(file, 'utf8');
    } catch (err) {
      // A missing file is a first start.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file, err: errorMessage(err) }, 'upgrade state file is unreadable; starting with an empty state');
    }
    if (text !== undefined) {
      try {
        state = salvage(JSON.parse(text), file, log);
      } catch (err) {
        // We rename complete files into place, so a file that does not parse is not ours: start clean rather than guess.
        log.warn({ file, err: errorMessage(err) }, 'upgrade state file is not JSON; discarded, starting with an empty state');
      }
    }
    return new AgentStore(dir, state);
  }

  /** Persist now; writes are serialised and each is temp file + fsync + rename. */
  save(): Promise<void> {
    const snapshot = JSON.stringify(this.state);
    const write = this.#writing.then(() => writeFileAtomic(join(this.dir, FILE), snapshot, STATE_FILE_MODE));
    this.#writing = write.catch(() => undefined);
    return write;
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
