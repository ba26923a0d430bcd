// The digest (and the signature's hash) of a large download on a worker thread that reads the part file
// back behind the writes: the hash runs on the other core beside the receive and the write, instead of
// after each write on the same thread, and it covers exactly the bytes the file holds.
// Only byte counts cross to the worker. Sending it the blocks was measured and dropped (the transfers
// cost more than the hash, bench/README.md); the bytes come back from the page cache the write just
// filled. The worker only makes the check faster: when it fails or stops, the check hashes the file in
// this thread as after a restart, so a broken worker can never fail a good firmware.
import { Worker } from 'node:worker_threads';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { SignMethod } from '../shared/messages.js';
import { WRITE_BYTES } from './part-writer.js';
import {
  FirmwareDigester, checkOutcome, digestOnDisk, hashAlgorithm, verifyArgs,
  type CheckedDigester, type DigestOutcome, type SignatureCheck,
} from './verify.js';

/** From this size a download is hashed on a worker: below it the thread's start (~30 ms of CPU)
 *  costs more than hashing beside the write saves. The same size from which blocks are 1 MiB. */
export const HASH_WORKER_MIN_BYTES = 16 * 1024 * 1024;

// Plain JavaScript run by the worker: no file to find beside the compiled module (or the test runner's
// untranspiled one). A number is "the file holds this many bytes: hash up to there"; { end } is the
// last one, answered with the outcome. Reads are synchronous: this thread has nothing else to do.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash, createVerify } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const hash = createHash(workerData.algorithm);
const verify = workerData.withSignature ? createVerify('sha256') : undefined;
const block = Buffer.allocUnsafe(${WRITE_BYTES});
let fd = -1;
let hashed = 0;
function upTo(bytes) {
  if (fd < 0) fd = openSync(workerData.path, 'r');
  while (hashed < bytes) {
    const n = readSync(fd, block, 0, Math.min(block.length, bytes - hashed), hashed);
    if (n === 0) throw new Error('the part file ends at ' + hashed + ' bytes, short of ' + bytes);
    const got = block.subarray(0, n);
    hash.update(got);
    if (verify) verify.update(got);
    hashed += n;
  }
}
parentPort.on('message', (m) => {
  if (typeof m === 'number') return upTo(m);
  upTo(m.end);
  if (fd >= 0) closeSync(fd);
  const digest = hash.digest('hex');
  let signature = !verify ? 'none' : !m.verifyArgs ? 'missing' : 'bad';
  try {
    if (signature === 'bad' && verify.verify(m.verifyArgs[0], m.verifyArgs[1])) signature = 'ok';
  } catch {
    // A signature OpenSSL cannot even parse is a bad signature, not a broken worker.
  }
  parentPort.postMessage({ digest, signature });
});
`;

export interface DigesterInput {
  partPath: string;
  sizeBytes: number;
  signMethod: SignMethod;
  signature: SignatureCheck | undefined;
  log: Logger;
}

/** The digester for one file: on a worker from HASH_WORKER_MIN_BYTES up, in this thread below. */
export function createDigester(i: DigesterInput): CheckedDigester {
  return i.sizeBytes >= HASH_WORKER_MIN_BYTES ? new WorkerDigester(i) : new FirmwareDigester(i.partPath, i.signMethod, i.signature);
}

/** The worker's life: not started until the first byte count, running, or ended (it answered, failed,
 *  stopped or was closed; the reason is what a check still waiting on it is told). */
type WorkerState =
  | { kind: 'unstarted' }
  | { kind: 'running'; worker: Worker; answer?: { resolve: (o: DigestOutcome) => void; reject: (err: Error) => void } }
  | { kind: 'ended'; why: string };

/** One worker per digest, started with the first byte count and ended by check() or close(). */
export class WorkerDigester implements CheckedDigester {
  #state: WorkerState = { kind: 'unstarted' };
  #onDisk = 0;
  /** The worker's answer once every byte is in (undefined: it failed, the check hashes in this thread). */
  #sealed: Promise<DigestOutcome | undefined> | undefined;

  constructor(private readonly i: DigesterInput) {}

  written(_chunks: readonly Buffer[], onDiskBytes: number): void {
    this.#onDisk = onDiskBytes;
    this.#post(onDiskBytes);
  }

  readFile(bytes: number): Promise<void> {
    this.written([], bytes);
    return Promise.resolve();
  }

  seal(): void {
    this.#sealed ??= this.#finish().catch((err: unknown) => {
      // Closed: no check will come, and nothing failed.
      if (this.#state.kind === 'ended' && this.#state.why === 'closed') return undefined;
      this.i.log.warn({ file: this.i.partPath, err: errorMessage(err) }, 'hash worker failed; the check hashes the file in this thread');
      return undefined;
    });
  }

  async check(expectedDigest: string): Promise<void> {
    this.seal();
    const outcome = (await this.#sealed) ?? (await digestOnDisk(this.i.partPath, this.i.signMethod, this.i.signature, this.#onDisk)).outcome();
    checkOutcome(outcome, expectedDigest);
  }

  close(): void {
    this.#end('closed');
  }

  /** The running worker (started on first use), or undefined once it has ended. */
  #running(): Extract<WorkerState, { kind: 'running' }> | undefined {
    if (this.#state.kind === 'unstarted') {
      try {
        this.#state = { kind: 'running', worker: this.#start() };
      } catch (err) {
        // No thread to be had (a resource limit): the check hashes in this thread, the download goes on.
        this.#state = { kind: 'ended', why: `it could not start: ${errorMessage(err)}` };
      }
    }
    return this.#state.kind === 'running' ? this.#state : undefined;
  }

  #post(message: number): void {
    this.#running()?.worker.postMessage(message);
  }

  #start(): Worker {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path: this.i.partPath, algorithm: hashAlgorithm(this.i.signMethod), withSignature: this.i.signature !== undefined },
      // Its heap holds a few small objects (the read block lives outside it): small limits keep its
      // share of the agent's memory to a few MiB.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    w.on('message', (o: DigestOutcome) => {
      if (this.#state.kind === 'running') this.#state.answer?.resolve(o);
      this.#end('answered');
    });
    w.on('error', (err) => this.#end(`it failed: ${errorMessage(err)}`));
    w.on('exit', (code) => this.#end(`it stopped (exit code ${code})`));
    return w;
  }

  /** Asks for the outcome of every byte on disk now. */
  #finish(): Promise<DigestOutcome> {
    return new Promise<DigestOutcome>((resolve, reject) => {
      const run = this.#running();
      if (!run) {
        reject(new Error(this.#state.kind === 'ended' ? this.#state.why : 'not started'));
        return;
      }
      run.answer = { resolve, reject };
      const s = this.i.signature;
      run.worker.postMessage({ end: this.#onDisk, verifyArgs: s?.signatureB64 ? verifyArgs(s) : undefined });
    });
  }

  /** Ends the worker (once); a check still waiting on it is told why. */
  #end(why: string): void {
    const was = this.#state;
    if (was.kind === 'ended') return;
    this.#state = { kind: 'ended', why };
    if (was.kind !== 'running') return;
    was.answer?.reject(new Error(why));
    void was.worker.terminate().catch(() => undefined);
  }
}
