// From a firmware file to a FirmwareId, the platform's way (docs/platform.md, "Firmware upload"):
// digest the file, reuse a firmware already registered with the same file, else GenerateOTAUploadURL
// → PostObject within the policy's minute → CreateOTAFirmware → QueryOTAFirmware until it is there.
import { openAsBlob } from 'node:fs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { sleepOn, type Clock } from '../shared/clock.js';
import { OtaError, errorMessage, isOtaError } from '../shared/errors.js';
import { DEFAULT_MODULE } from '../shared/platform-rules.js';
import { findRegistered, parseAnswer, queryFirmwareRow, type FileDigests } from './firmware-lookup.js';
import { postObject } from './object-store-upload.js';
import type { PlatformApi } from './platform-api.js';
import { mib, type UploadRequest } from './upload-request.js';

export interface UploadDeps {
  api: PlatformApi;
  clock: Clock;
  /** One line for people (the live view, or stderr). */
  say: (line: string) => void;
  /** Bytes sent of the upload, for a progress bar; called often. */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
  stallTimeoutMs: number;
  /** How long a registered firmware may take to be readable with QueryOTAFirmware. */
  readyTimeoutMs: number;
  fetch?: typeof fetch;
}

export interface UploadOutcome {
  firmwareId: string;
  /** True when a firmware with this file was registered already and nothing was uploaded. */
  reused: boolean;
  firmwareName: string;
  productKey: string;
  moduleName: string;
  destVersion: string;
  signMethod: 'MD5' | 'SHA256';
  firmwareSign: string;
  firmwareSize: number;
  status: number | undefined;
}

const grantSchema = z.object({
  Data: z.object({
    Host: z.string().regex(/^https?:\/\/[^\s/]+\/?$/, 'an http(s) origin').max(512),
    Key: z.string().min(1).max(1024),
    Policy: z.string().min(1).max(16 * 1024),
    OSSAccessKeyId: z.string().min(1).max(256),
    Signature: z.string().min(1).max(512),
    FirmwareUrl: z.string().regex(/^https?:\/\/\S+$/, 'an http(s) URL').max(4096),
  }),
});
const createdSchema = z.object({ Data: z.object({ FirmwareId: z.string().min(1).max(128) }) });

export async function firmwareFromFile(d: UploadDeps, req: UploadRequest): Promise<UploadOutcome> {
  // A file-backed Blob: read twice (digest, upload) without ever being held whole; Node refuses to
  // read it if the file changes in between, so the digest registered is the file uploaded.
  const blob = await openAsBlob(req.file);
  const digests = await digestsOf(blob, req.file);
  const sign = req.signMethod === 'MD5' ? digests.md5 : digests.sha256;
  const outcome = (firmwareId: string, reused: boolean, status: number | undefined, name = req.firmwareName): UploadOutcome => ({
    firmwareId, reused, firmwareName: name, productKey: req.productKey, moduleName: req.moduleName, destVersion: req.version,
    signMethod: req.signMethod, firmwareSign: sign, firmwareSize: req.sizeBytes, status,
  });
  const found = await findRegistered(d.api, req, digests);
  if (found) {
    d.say(`firmware ${found.FirmwareId}${found.FirmwareName ? ` (${found.FirmwareName})` : ''} is this file already (version ${req.version}, ${req.signMethod} ${sign.slice(0, 12)}…): not uploading it again`);
    return outcome(found.FirmwareId, true, found.Status, found.FirmwareName ?? req.firmwareName);
  }
  const firmwareUrl = await upload(d, req, blob);
  const firmwareId = await register(d, req, firmwareUrl, sign, digests);
  d.say(`registered firmware ${firmwareId} (${req.firmwareName}): version ${req.version}${req.srcVersion ? ` from ${req.srcVersion}` : ''}, module ${req.moduleName}, ${mib(req.sizeBytes)}, ${req.signMethod}`);
  const status = await untilReady(d, req, firmwareId, sign);
  return outcome(firmwareId, false, status);
}

async function digestsOf(blob: Blob, file: string): Promise<FileDigests> {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  try {
    for await (const chunk of blob.stream() as AsyncIterable<Uint8Array>) {
      md5.update(chunk);
      sha256.update(chunk);
    }
  } catch (err) {
    throw new OtaError('USAGE', `cannot read the firmware file ${file}: ${errorMessage(err)} (did it change while being read?)`, { cause: err, expected: 'a firmware file that stays as it is while ota-verify runs' });
  }
  return { md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

/** A policy is good for a minute: ask for it right before the POST, and once more if the POST fails
 *  in a way another try can fix (the store failing, the connection, an expired policy). */
async function upload(d: UploadDeps, req: UploadRequest, blob: Blob): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const r = await d.api.request('GenerateOTAUploadURL', { FileSuffix: req.fileSuffix, IotInstanceId: req.iotInstanceId });
    const grant = parseAnswer(grantSchema, 'GenerateOTAUploadURL', r).Data;
    d.say(`uploading ${req.fileName} (${mib(req.sizeBytes)}) to ${new URL(grant.Host).host}`);
    try {
      await postObject(grant, blob, req.fileName, {
        clock: d.clock, stallTimeoutMs: d.stallTimeoutMs, ...(d.fetch ? { fetch: d.fetch } : {}),
        onProgress: (sent) => d.onProgress?.(Math.min(sent, req.sizeBytes), req.sizeBytes),
      });
      return grant.FirmwareUrl;
    } catch (err) {
      const expired = isOtaError(err, 'REFUSED') && err.details.storeCode === 'AccessDenied' && /expired/i.test(err.message);
      if (attempt >= 2 || !((isOtaError(err, 'TRANSPORT_ERROR') && err.details.tlsUntrusted !== true) || expired)) throw err;
      d.say(`upload failed (${errorMessage(err)}); once more with a fresh policy`);
    }
  }
}

/** CreateOTAFirmware is not idempotent: after a transport failure, look (by the file's digest) before trying again. */
async function register(d: UploadDeps, req: UploadRequest, firmwareUrl: string, sign: string, digests: FileDigests): Promise<string> {
  const params = {
    ProductKey: req.productKey, FirmwareName: req.firmwareName, DestVersion: req.version, FirmwareUrl: firmwareUrl,
    SignMethod: req.signMethod, FirmwareSign: sign, FirmwareSize: req.sizeBytes, NeedToVerify: true,
    // The default module is named by leaving ModuleName out.
    ModuleName: req.moduleName === DEFAULT_MODULE ? undefined : req.moduleName,
    Type: req.srcVersion ? 1 : 0, SrcVersion: req.srcVersion, FirmwareDesc: req.desc, Udi: req.udi, IotInstanceId: req.iotInstanceId,
  };
  for (let attempt = 1; ; attempt++) {
    try {
      return parseAnswer(createdSchema, 'CreateOTAFirmware', await d.api.request('CreateOTAFirmware', params, { retry: false })).Data.FirmwareId;
    } catch (err) {
      if (isOtaError(err, 'PLATFORM_ERROR') && err.details.platformCode === 'iot.ota.FirmwareNameExisted') {
        throw new OtaError('REFUSED', `a firmware named ${JSON.stringify(req.firmwareName)} already exists in product ${req.productKey}`, { expected: 'another --firmware-name', cause: err });
      }
      if (!isOtaError(err, 'TRANSPORT_ERROR') || attempt >= 3) throw err;
      const made = await findRegistered(d.api, req, digests);
      if (made) return made.FirmwareId;
    }
  }
}

/** The platform may take a moment before a new firmware reads back; wait for it, and check it holds our file. */
async function untilReady(d: UploadDeps, req: UploadRequest, firmwareId: string, sign: string): Promise<number | undefined> {
  const deadline = d.clock.now() + d.readyTimeoutMs;
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 4000)) {
    try {
      const fw = await queryFirmwareRow(d.api, firmwareId, req.iotInstanceId);
      if (fw.FirmwareSign !== undefined && fw.FirmwareSign !== '' && fw.FirmwareSign.toLowerCase() !== sign) {
        throw new OtaError('REFUSED', `firmware ${firmwareId} reads back with digest ${fw.FirmwareSign}, not the file's ${sign}`, { expected: 'the digest that was registered' });
      }
      if (fw.Status !== undefined && fw.Status >= -1 && fw.Status <= 3) return fw.Status;
    } catch (err) {
      if (!(isOtaError(err, 'PLATFORM_ERROR') && err.details.platformCode === 'iot.ota.FirmwareNotFound')) throw err;
    }
    if (d.clock.now() + delayMs > deadline) {
      throw new OtaError('TIMEOUT', `firmware ${firmwareId} was registered but QueryOTAFirmware did not show it ready within ${Math.round(d.readyTimeoutMs / 1000)} s`, { details: { firmwareId } });
    }
    await sleepOn(d.clock, delayMs);
  }
}
