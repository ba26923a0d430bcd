// `ota-lab firmware add FILE --version V`: upload the file to the running lab's object store, then
// register it with CreateOTAFirmware through the OpenAPI, as a release pipeline would.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { OtaError, errorMessage } from '../../shared/errors.js';
import { readLabConnection } from '../../shared/lab-connection.js';
import { createOpenApiCall } from '../../shared/openapi-client.js';

export interface FirmwareAddArgs {
  file: string;
  version: string;
  signMethod: 'MD5' | 'SHA256';
  module?: string;
  name?: string;
  srcVersion?: string;
  verify: boolean;
  lab: string;
  json: boolean;
}

export async function runFirmwareAdd(a: FirmwareAddArgs): Promise<number> {
  const conn = await readLabConnection(a.lab);
  let size: number;
  try {
    const s = await stat(a.file);
    if (!s.isFile()) throw new Error('not a regular file');
    size = s.size;
  } catch (cause) {
    throw new OtaError('BAD_FIRMWARE_FILE', `cannot read firmware file ${a.file}: ${errorMessage(cause)}`, { expected: 'a readable, non-empty file', cause });
  }
  if (size === 0) throw new OtaError('BAD_FIRMWARE_FILE', `firmware file ${a.file} is empty`, { expected: 'a non-empty file' });
  const objectName = basename(a.file).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128) || 'firmware.bin';
  const digest = createHash(a.signMethod === 'MD5' ? 'md5' : 'sha256');
  const source = createReadStream(a.file);
  source.on('data', (c: string | Buffer) => digest.update(c));
  let uploaded: { url: string; size: number };
  try {
    const res = await fetch(`${conn.fileServer}/admin/objects/${encodeURIComponent(objectName)}`, {
      method: 'PUT', headers: { authorization: `Bearer ${conn.adminToken}`, 'content-length': String(size) },
      body: Readable.toWeb(source), duplex: 'half',
    });
    const body = (await res.json()) as { url?: string; size?: number; error?: string };
    if (!res.ok || !body.url) throw new Error(body.error ?? `HTTP ${res.status}`);
    uploaded = { url: body.url, size: body.size ?? size };
  } catch (cause) {
    throw new OtaError('TRANSPORT_ERROR', `upload to the lab's file server failed: ${errorMessage(cause)}`, { cause });
  }
  const call = createOpenApiCall({ endpoint: conn.apiEndpoint, regionId: conn.regionId, credentials: conn });
  const res = await call('CreateOTAFirmware', {
    ProductKey: conn.productKey, FirmwareName: a.name ?? `${objectName.slice(0, 24)}-${a.version}`.slice(0, 40), DestVersion: a.version,
    FirmwareUrl: uploaded.url, FirmwareSign: digest.digest('hex'), SignMethod: a.signMethod, FirmwareSize: uploaded.size,
    ModuleName: a.module, SrcVersion: a.srcVersion, Type: a.srcVersion ? 1 : 0, NeedToVerify: a.verify,
  });
  const firmwareId = (res.Data as { FirmwareId?: string } | undefined)?.FirmwareId ?? '';
  if (a.json) process.stdout.write(`${JSON.stringify({ firmwareId, version: a.version, size: uploaded.size, signMethod: a.signMethod })}\n`);
  else process.stdout.write(`${firmwareId}\n`);
  process.stderr.write(`registered ${a.file} (${uploaded.size} bytes, ${a.signMethod}) as firmware ${firmwareId}, version ${a.version}\n`);
  return 0;
}
