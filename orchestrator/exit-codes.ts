// ota-verify's exit codes, apart from the commands so that `--help` and usage errors load nothing else.
import { isOtaError } from '../shared/errors.js';

export function exitCodeOf(err: unknown): number {
  if (isOtaError(err, 'USAGE') || isOtaError(err, 'REFUSED') || isOtaError(err, 'LAB_FILE_UNREADABLE') || isOtaError(err, 'LAB_FILE_INVALID')) return 2;
  if (isOtaError(err, 'PLATFORM_ERROR')) {
    const code = String(err.details.platformCode);
    // Authentication and gateway failures are "platform/auth" (3); business refusals are "refused" (2).
    if (/^(SignatureDoesNotMatch|InvalidAccessKeyId|InvalidTimeStamp|InvalidSecurityToken|Forbidden|Throttling|ServiceUnavailable|InternalError|iot\.system)/.test(code)) return 3;
    return 2;
  }
  if (isOtaError(err, 'STOPPED')) return 4;
  return 3;
}
