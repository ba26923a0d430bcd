// Verify: the digest proves the download matches what the platform holds; the detached signature
// (when a public key is configured) proves who built it. Both are fed as the bytes reach the disk: in
// this thread for a small file, on a worker for a large one (worker-digester.ts).
import { createHash, createVerify, type KeyObject, type Hash, type Verify } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { OtaError, errorMessage } from '../shared/errors.js';
import type { SignMethod } from '../shared/messages.js';
import { WRITE_BYTES as READ_BYTES, type Digester } from './part-writer.js';

/** What the signature check needs: the configured key and the file's signature from the notice. */
export interface SignatureCheck {
  publicKey: KeyObject;
  signatureB64: string | undefined;
}

/** A digester whose result can be checked once every byte is in. */
export interface CheckedDigester extends Digester {
  /** Ends the digest (no more updates) and rejects with VERIFY_FAILED (step -3) naming what did not match. */
  check(expectedDigest: string): Promise<void>;
  /** Every byte is in: the outcome can be worked out now, ahead of check() (a worker answers and
   *  ends instead of idling while the other files of the package download). */
  seal(): void;
  /** Lets go of what the digest holds (a worker thread) when it will not be checked. Idempotent. */
  close(): void;
}

/** The outcome of a digest: the hex digest, and the signature's verdict when one is configured. */
export interface DigestOutcome {
  digest: string;
  signature: 'ok' | 'bad' | 'missing' | 'none';
}

/** Hashes in this thread: a small file as each block reaches the disk, and any file read back from
 *  disk (a resume, a check after a restart, or when the hash worker of a large one failed). */
export class FirmwareDigester implements CheckedDigester {
  readonly #hash: Hash;
  readonly #verify: Verify | undefined;
  readonly #signature: SignatureCheck | undefined;
  #outcome: DigestOutcome | undefined;

  constructor(private readonly path: string, signMethod: SignMethod, signature: SignatureCheck | undefined) {
    this.#hash = createHash(hashAlgorithm(signMethod));
    this.#signature = signature;
    this.#verify = signature ? createVerify('sha256') : undefined;
  }

  written(chunks: readonly Buffer[]): void {
    for (const c of chunks) {
      this.#hash.update(c);
      this.#verify?.update(c);
    }
  }

  async readFile(bytes: number): Promise<void> {
    const fh = await open(this.path, 'r');
    try {
      const block = Buffer.allocUnsafe(Math.min(READ_BYTES, Math.max(1, bytes)));
      for (let at = 0; at < bytes;) {
        const { bytesRead } = await fh.read(block, 0, Math.min(block.length, bytes - at), at);
        if (bytesRead === 0) throw new Error(`it ends at ${at} bytes, short of ${bytes}`);
        this.written([block.subarray(0, bytesRead)]);
        at += bytesRead;
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** Ends the digest: a hash ends once, so the first call computes the outcome and later ones read it. */
  outcome(): DigestOutcome {
    const s = this.#signature;
    this.#outcome ??= {
      digest: this.#hash.digest('hex'),
      signature: !s || !this.#verify ? 'none' : !s.signatureB64 ? 'missing' : verifies(this.#verify, s) ? 'ok' : 'bad',
    };
    return this.#outcome;
  }

  check(expectedDigest: string): Promise<void> {
    return Promise.resolve().then(() => checkOutcome(this.outcome(), expectedDigest));
  }

  seal(): void {
    // The outcome costs nothing more to work out at check().
  }

  close(): void {
    // Nothing held beyond the hash objects, which the collector takes.
  }
}

/** A part file that cannot be read back for its check: the bytes that were verified are not there. */
export function fileGone(err: unknown): OtaError {
  return new OtaError('VERIFY_FAILED', `downloaded file is gone: ${errorMessage(err)}`, { cause: err });
}

/** The digest of a part file read back in this thread: its first `bytes` (all of it when omitted).
 *  After a restart, or when a large file's hash worker failed; a file that cannot be read is a -3. */
export async function digestOnDisk(path: string, signMethod: SignMethod, signature: SignatureCheck | undefined, bytes?: number): Promise<FirmwareDigester> {
  const d = new FirmwareDigester(path, signMethod, signature);
  try {
    await d.readFile(bytes ?? (await stat(path)).size);
  } catch (err) {
    throw fileGone(err);
  }
  return d;
}

export function hashAlgorithm(signMethod: SignMethod): 'md5' | 'sha256' {
  return signMethod === 'MD5' ? 'md5' : 'sha256';
}

/** The digest first (a wrong file is a wrong file, signed or not), then the signature. */
export function checkOutcome(o: DigestOutcome, expectedDigest: string): void {
  if (o.digest.toLowerCase() !== expectedDigest.toLowerCase()) {
    throw new OtaError('VERIFY_FAILED', `digest mismatch: got ${o.digest.slice(0, 16)}…, expected ${expectedDigest.slice(0, 16).toLowerCase()}…`, { expected: expectedDigest, found: o.digest });
  }
  if (o.signature === 'missing') throw new OtaError('VERIFY_FAILED', 'signature missing from the notice\'s extData', { expected: 'a base64 signature' });
  if (o.signature === 'bad') throw new OtaError('VERIFY_FAILED', 'signature does not match the configured public key', { expected: 'a signature by the release key' });
}

/** A signature OpenSSL cannot even parse is a bad signature (step -3), not an error of the download. */
function verifies(v: Verify, s: SignatureCheck): boolean {
  try {
    return v.verify(...verifyArgs(s));
  } catch {
    return false;
  }
}

/** Verify.verify's arguments for a configured key and a present signature. */
export function verifyArgs(s: SignatureCheck): [KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' }, Buffer] {
  const sig = Buffer.from(s.signatureB64 ?? '', 'base64');
  // ECDSA signatures come DER-encoded from openssl, or raw r||s from some signers: accept both. A
  // Verify object can be used once, so pick the encoding from the length: P-256 raw ones are 64 bytes.
  return [s.publicKey.asymmetricKeyType === 'ec' && sig.length === 64 ? { key: s.publicKey, dsaEncoding: 'ieee-p1363' } : s.publicKey, sig];
}

/** The signature for one file from extData: a string for a single file, or a map by file name. */
export function signatureFor(extData: Record<string, unknown> | undefined, key: string, fileName: string): string | undefined {
  const raw = extData?.[key];
  if (typeof raw === 'string') {
    if (raw.trim().startsWith('{')) {
      try {
        const map = JSON.parse(raw) as Record<string, unknown>;
        const v = map[fileName];
        return typeof v === 'string' ? v : undefined;
      } catch {
        return raw;
      }
    }
    return raw;
  }
  if (raw && typeof raw === 'object') {
    const v = (raw as Record<string, unknown>)[fileName];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}
