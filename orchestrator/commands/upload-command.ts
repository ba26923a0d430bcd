// `ota-verify upload FILE --version V …` (prints the FirmwareId), and the upload step of
// `ota-verify verify --file FILE …`: one place that turns a file into a FirmwareId for both.
import { systemClock } from '../../shared/clock.js';
import { OtaError, isOtaError } from '../../shared/errors.js';
import { readLabConnection } from '../../shared/lab-connection.js';
import { resolveTarget } from '../target.js';
import { firmwareFromFile, type UploadOutcome } from '../upload.js';
import { progressBar } from '../upload-progress.js';
import { checkUploadRequest, type UploadArgs, type UploadRequest } from '../upload-request.js';
import { session, type Session, type SessionArgs } from './session.js';

/** No byte moved for a minute: the upload is abandoned (the policy would have expired anyway). */
const STALL_TIMEOUT_MS = 60_000;
/** A registered firmware reads back within seconds; two minutes leave room for a slow platform. */
const READY_TIMEOUT_MS = 120_000;

export async function uploadStep(s: Session, req: UploadRequest, say: (line: string) => void): Promise<UploadOutcome> {
  const bar = s.args.quiet ? undefined : progressBar(process.stderr, Date.now);
  try {
    return await firmwareFromFile({
      api: s.api, clock: systemClock, stallTimeoutMs: STALL_TIMEOUT_MS, readyTimeoutMs: READY_TIMEOUT_MS,
      say: (line) => { bar?.done(); say(line); },
      onProgress: (sent, total) => bar?.update(sent, total),
    }, req);
  } catch (err) {
    // The lab's --tls file server has a CA of its own, which Node's fetch trusts only from the environment.
    if (isOtaError(err, 'TRANSPORT_ERROR') && err.details.tlsUntrusted === true && s.args.lab) {
      const caFile = (await readLabConnection(s.args.lab)).caFile;
      if (caFile) throw new OtaError(err.code, err.message, { cause: err, details: err.details, expected: `the lab's CA trusted: run with NODE_EXTRA_CA_CERTS=${caFile}` });
    }
    throw err;
  } finally {
    bar?.done();
  }
}

export async function checkedUpload(a: SessionArgs & { upload: UploadArgs; productKey?: string }): Promise<UploadRequest> {
  // The lab file names the product; reading it is local.
  const productKey = a.productKey ?? (a.lab ? (await resolveTarget(a)).productKey : undefined);
  return checkUploadRequest({ ...a.upload, ...(productKey ? { productKey } : {}), ...(a.instanceId ? { iotInstanceId: a.instanceId } : {}) });
}

export async function runUpload(a: SessionArgs & { upload: UploadArgs; productKey?: string }): Promise<number> {
  const req = await checkedUpload(a);
  const s = await session(a);
  // stdout carries only the FirmwareId (or the JSON document); people read stderr.
  const out = await uploadStep(s, req, (line) => { if (!a.quiet) process.stderr.write(`${line}\n`); });
  process.stdout.write(a.json ? `${JSON.stringify({ schema: 'ota-verify/upload@1', ...out }, null, 2)}\n` : `${out.firmwareId}\n`);
  return 0;
}
