// Refusals the lab's OpenAPI answers with, in the platform's envelope. The code is the platform's
// own (`SignatureDoesNotMatch`, `iot.ota.FirmwareNotFound`, …); business refusals come back as
// HTTP 200 with Success=false, gateway refusals with a 4xx status, as the platform does.
import { OtaError } from '../shared/errors.js';

export function apiError(code: string, message: string, httpStatus = 200, fields: { expected?: string; found?: string } = {}): OtaError {
  return new OtaError(code, message, { ...fields, details: { httpStatus } });
}

export function missingParameter(name: string): OtaError {
  return apiError('MissingParameter', `The input parameter "${name}" that is mandatory for processing this request is not supplied.`, 400, {
    expected: `a value for ${name}`,
  });
}

export function invalidParameter(name: string, expected: string, found: string | undefined): OtaError {
  const shown = found === undefined ? '(absent)' : JSON.stringify(found.length > 80 ? `${found.slice(0, 80)}…` : found);
  return apiError('InvalidParameter', `The parameter "${name}" is invalid: expected ${expected}, got ${shown}.`, 400, {
    expected, found: shown,
  });
}

export function httpStatusOf(err: OtaError): number {
  const s = err.details.httpStatus;
  return typeof s === 'number' ? s : 200;
}
