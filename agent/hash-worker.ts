// The digest (and the signature check's hash) of a large download on a worker thread, so hashing runs
// on the other core beside the receive and the write instead of after them on the same thread.
// Written blocks are moved to the worker (transferred, not copied) and come back empty to be filled
// again; at most MAX_QUEUED are with the worker at once, so memory stays flat whatever the file size.
// One worker per download, started when the download starts and stopped on every way out of it.
import { Worker } from 'node:worker_threads';
import { OtaError, errorMessage } from '../shared/errors.js';
import type { SignMethod } from '../shared/messages.js';
import { WRITE_BYTES } from './part-writer.js';
import { FirmwareDigester, checkOutcome, hashAlgorithm, verifyArgs, type CheckedDigester, type DigestOutcome, type SignatureCheck } from './verify.js';

/** Below this size a worker costs more than it saves. Measured on the loaded 2-core machine (nginx,
 *  interleaved, medians): the worker adds 40-80 ms of CPU at every size and 60 ms (1 MiB) or 120 ms
 *  (16 MiB) of wall time; at 64 MiB the wall times are level. */
export const WORKER_MIN_BYTES = 64 * 1024 * 1024;
const MAX_QUEUED = 2;
/** A written list is WRITE_BYTES plus at most one socket chunk. */
const BLOCK_BYTES = WRITE_BYTES + 64 * 1024;

// Plain JavaScript evaluated by the worker: no file to locate next to the compiled (or the test
// runner's untranspiled) module. It only hashes what it is sent and answers with the block.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash, createVerify } = require('node:crypto');
const hash = createHash(workerData.algorithm);
const verify = workerData.withSignature ? createVerify('sha256') : undefined;
parentPort.on('message', (m) => {
  if (m.type === 'block') {
    const bytes = new Uint8Array(m.block, 0, m.length);
    hash.update(bytes);
    if (verify) verify.update(bytes);
    parentPort.postMessage({ type: 'block', block: m.block }, [m.block]);
  } else if (m.type === 'seal') {
    const digest = hash.digest('hex');
    let signature = !verify ? 'none' : !m.verifyArgs ? 'missing' : 'bad';
    try {
      if (signature === 'bad' && verify.verify(m.verifyArgs[0], m.verifyArgs[1])) signature = 'ok';
    } catch {
      // A signature OpenSSL cannot even parse is a bad signature, not a broken worker.
    }
    parentPort.postMessage({ type: 'sealed', outcome: { digest, signature } });
  } else {
    throw new Error('hash worker: unexpected message ' + String(m && m.type));
  }
});
`;

/** The digester for one file: on a worker from WORKER_MIN_BYTES up, in this thread below. */
export function createDigester(signMethod: SignMethod, signature: SignatureCheck | undefined, sizeBytes: number): CheckedDigester {
  return sizeBytes >= WORKER_MIN_BYTES ? new WorkerDigester(signMethod, signature) : new FirmwareDigester(signMethod, signature);
}

export class WorkerDigester implements CheckedDigester {
  readonly #signature: SignatureCheck | undefined;
  readonly #algorithm: string;
  #worker: Worker | undefined;
  #failure: OtaError | undefined;
  #outcome: DigestOutcome | undefined;
  #queued = 0;
  readonly #returned: Buffer[] = [];
  /** Woken by every answer of the worker, and by its failure. */
  #wake: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(signMethod: SignMethod, signature: SignatureCheck | undefined) {
    this.#algorithm = hashAlgorithm(signMethod);
    this.#signature = signature;
  }

  /** Started with the first block, so a download that never gets a byte never starts a thread. */
  #start(): Worker {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { algorithm: this.#algorithm, withSignature: this.#signature !== undefined },
      // Its heap holds a few small objects (the blocks live outside it): small limits keep its
      // share of the agent's RSS to a few MiB.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    w.on('message', (m: { type: 'block'; block: ArrayBuffer } | { type: 'sealed'; outcome: DigestOutcome }) => {
      if (m.type === 'block') {
        this.#queued--;
        this.#returned.push(Buffer.from(m.block));
      } else {
        this.#outcome = m.outcome;
      }
      this.#wakeUp();
    });
    w.on('error', (err) => this.#fail(`the hash worker failed: ${errorMessage(err)}`, err));
    w.on('exit', (code) => this.#fail(`the hash worker stopped (exit code ${code})`));
    return w;
  }

  #fail(message: string, cause?: unknown): void {
    if (this.#closing || this.#outcome) return;
    this.#failure ??= new OtaError('DOWNLOAD_FAILED', message.slice(0, 120), { cause });
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits until `ready()` holds, or throws the worker's failure. */
  async #until(ready: () => boolean): Promise<void> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      if (ready()) return;
      await new Promise<void>((r) => { this.#wake = r; });
    }
  }

  async update(chunks: readonly Buffer[]): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#closing || this.#outcome) throw new OtaError('DOWNLOAD_FAILED', 'hash worker used after it was stopped');
    this.#worker ??= this.#start();
    let length = 0;
    for (const c of chunks) length += c.length;
    // One copy into a block the worker can own (the socket's buffers are shared with the HTTP parser,
    // so they cannot be moved); blocks come back from the worker to be filled again.
    let block = this.#returned.pop();
    if (!block || block.length < length) block = Buffer.allocUnsafeSlow(Math.max(length, BLOCK_BYTES));
    let at = 0;
    for (const c of chunks) at += c.copy(block, at);
    const ab = block.buffer as ArrayBuffer;
    this.#queued++;
    this.#worker.postMessage({ type: 'block', block: ab, length }, [ab]);
    await this.#until(() => this.#queued < MAX_QUEUED);
  }

  async seal(): Promise<void> {
    if (this.#outcome) return;
    if (!this.#worker) this.#worker = this.#start();
    const s = this.#signature;
    this.#worker.postMessage({ type: 'seal', verifyArgs: s?.signatureB64 ? verifyArgs(s) : undefined });
    await this.#until(() => this.#outcome !== undefined);
    await this.close();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#returned.length = 0;
      // terminate() ends the thread between two messages; its promise settles once it is gone.
      await this.#worker?.terminate().catch(() => undefined);
    })();
    return this.#closing;
  }

  check(expectedDigest: string): void {
    if (!this.#outcome) throw new Error('check before seal');
    checkOutcome(this.#outcome, expectedDigest);
  }
}
