// Verify: the digest proves the download matches what the platform holds; the detached signature
// (when a public key is configured) proves who built it. Both are fed while the bytes arrive.
import { createHash, createVerify, type KeyObject, type Hash, type Verify } from 'node:crypto';
import { OtaError } from '../shared/errors.js';
import type { SignMethod } from '../shared/messages.js';
import type { Digester } from './part-writer.js';

/** What the signature check needs: the configured key and the file's signature from the notice. */
export interface SignatureCheck {
  publicKey: KeyObject;
  signatureB64: string | undefined;
}

/** A digester whose result can be checked once every byte is in. */
export interface CheckedDigester extends Digester {
  /** Ends the digest (no more updates) and throws VERIFY_FAILED (step -3) naming what did not match. */
  check(expectedDigest: string): void;
}

/** The outcome of a digest: the hex digest, and the signature's verdict when one is configured. */
interface DigestOutcome {
  digest: string;
  signature: 'ok' | 'bad' | 'missing' | 'none';
}

/** Hashes in this thread, each block once it is on disk. A worker thread was measured and dropped: with
 *  the HTTP client's copy gone, posting blocks to it cost more CPU and RSS than the hash (bench/README.md). */
export class FirmwareDigester implements CheckedDigester {
  readonly #hash: Hash;
  readonly #verify: Verify | undefined;
  readonly #signature: SignatureCheck | undefined;
  #outcome: DigestOutcome | undefined;

  constructor(signMethod: SignMethod, signature: SignatureCheck | undefined) {
    this.#hash = createHash(hashAlgorithm(signMethod));
    this.#signature = signature;
    this.#verify = signature ? createVerify('sha256') : undefined;
  }

  update(chunks: readonly Buffer[]): void {
    for (const c of chunks) {
      this.#hash.update(c);
      this.#verify?.update(c);
    }
  }

  check(expectedDigest: string): void {
    const s = this.#signature;
    // A hash ends once: the first check computes the outcome, later ones read it.
    this.#outcome ??= {
      digest: this.#hash.digest('hex'),
      signature: !s || !this.#verify ? 'none' : !s.signatureB64 ? 'missing' : verifies(this.#verify, s) ? 'ok' : 'bad',
    };
    checkOutcome(this.#outcome, expectedDigest);
  }
}

function hashAlgorithm(signMethod: SignMethod): 'md5' | 'sha256' {
  return signMethod === 'MD5' ? 'md5' : 'sha256';
}

/** The digest first (a wrong file is a wrong file, signed or not), then the signature. */
function checkOutcome(o: DigestOutcome, expectedDigest: string): void {
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
function verifyArgs(s: SignatureCheck): [KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' }, Buffer] {
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
