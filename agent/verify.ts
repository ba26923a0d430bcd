// Verify: the digest proves the download matches what the platform holds; the detached signature
// (when a public key is configured) proves who built it. Both are fed while the bytes arrive.
import { createHash, createVerify, type KeyObject, type Hash, type Verify } from 'node:crypto';
import { OtaError } from '../shared/errors.js';
import type { SignMethod } from '../shared/messages.js';
import type { Digester } from './download.js';

export class FirmwareDigester implements Digester {
  readonly #hash: Hash;
  readonly #verify: Verify | undefined;

  constructor(signMethod: SignMethod, withSignature: boolean) {
    this.#hash = createHash(signMethod === 'MD5' ? 'md5' : 'sha256');
    this.#verify = withSignature ? createVerify('sha256') : undefined;
  }

  update(chunk: Buffer): void {
    this.#hash.update(chunk);
    this.#verify?.update(chunk);
  }

  /** Throws VERIFY_FAILED (step -3) naming what did not match. */
  check(expectedDigest: string, publicKey: KeyObject | undefined, signatureB64: string | undefined): void {
    const got = this.#hash.digest('hex');
    if (got.toLowerCase() !== expectedDigest.toLowerCase()) {
      throw new OtaError('VERIFY_FAILED', `digest mismatch: got ${got.slice(0, 16)}…, expected ${expectedDigest.slice(0, 16).toLowerCase()}…`, { expected: expectedDigest, found: got });
    }
    if (!publicKey || !this.#verify) return;
    if (!signatureB64) throw new OtaError('VERIFY_FAILED', 'signature missing from the notice\'s extData', { expected: 'a base64 signature' });
    const sig = Buffer.from(signatureB64, 'base64');
    const ok = publicKey.asymmetricKeyType === 'ec'
      // ECDSA signatures come DER-encoded from openssl, or raw r||s from some signers: accept both.
      ? verifyEither(this.#verify, publicKey, sig)
      : this.#verify.verify(publicKey, sig);
    if (!ok) throw new OtaError('VERIFY_FAILED', 'signature does not match the configured public key', { expected: 'a signature by the release key' });
  }
}

function verifyEither(v: Verify, key: KeyObject, sig: Buffer): boolean {
  // A Verify object can be used once; DER first, then IEEE-P1363 on a copy would need the data
  // again, so pick the encoding from the length: P-256 raw signatures are exactly 64 bytes.
  return sig.length === 64 ? v.verify({ key, dsaEncoding: 'ieee-p1363' }, sig) : v.verify(key, sig);
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
