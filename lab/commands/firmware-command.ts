// `ota-lab firmware add FILE --version V`: upload the file to the running lab's object store, then
// register it with CreateOTAFirmware through the OpenAPI, as a release pipeline would; and
// `ota-lab firmware list`.
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { OtaError, errorMessage, isOtaError } from '../../shared/errors.js';
import { readLabConnection } from '../../shared/lab-connection.js';
import { firmwareStatusWord, LIMITS } from '../../shared/platform-rules.js';
import { issueError } from '../../shared/zod-issue.js';
import { checkUserFile } from '../../shared/user-file.js';
import { z } from 'zod';
import { labApiCall, labFetch } from './lab-api.js';

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
  const size = await checkUserFile(a.file, { what: 'firmware file', code: 'BAD_FIRMWARE_FILE', expected: 'a readable, non-empty file of at most 1,000 MB (the platform\'s upload limit)', maxBytes: LIMITS.firmwareSizeMaxBytes });
  const objectName = basename(a.file).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128) || 'firmware.bin';
  const digest = createHash(a.signMethod === 'MD5' ? 'md5' : 'sha256');
  const source = createReadStream(a.file);
  source.on('data', (c: string | Buffer) => digest.update(c));
  let uploaded: { url: string; size: number };
  try {
    const res = await labFetch(a.lab, conn, `${conn.fileServer}/admin/objects/${encodeURIComponent(objectName)}`, {
      method: 'PUT', headers: { authorization: `Bearer ${conn.adminToken}`, 'content-length': String(size) },
      body: Readable.toWeb(source), duplex: 'half',
    });
    const body = (await res.json()) as { url?: string; size?: number; error?: string };
    if (!res.ok || !body.url) throw new Error(body.error ?? `HTTP ${res.status}`);
    uploaded = { url: body.url, size: body.size ?? size };
  } catch (cause) {
    if (isOtaError(cause)) throw cause;
    throw new OtaError('TRANSPORT_ERROR', `upload to the lab's file server failed: ${errorMessage(cause)}`, { cause });
  }
  const call = labApiCall(conn, a.lab);
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

export interface FirmwareListArgs {
  lab: string;
  json: boolean;
}

const listRowSchema = z.object({
  FirmwareId: z.string(), FirmwareName: z.string().nullish(), ModuleName: z.string().nullish(), DestVersion: z.string(), SrcVersion: z.string().nullish(),
  Status: z.number().int(), FirmwareSize: z.number().nullish(), SignMethod: z.string().nullish(), UtcCreate: z.string().nullish(),
});
const listAnswerSchema = z.object({ PageCount: z.number().optional(), FirmwareInfo: z.object({ SimpleFirmwareInfo: z.array(listRowSchema).nullish() }).nullish() });

/** Pages read at most (100 rows each): a lab with more firmware than this is not a test lab. */
const LIST_PAGES_MAX = 100;

/** `ota-lab firmware list`: the running lab's firmware through its signed API (ListOTAFirmware), as
 *  a script on the platform would read it. */
export async function runFirmwareList(a: FirmwareListArgs): Promise<number> {
  const conn = await readLabConnection(a.lab);
  const call = labApiCall(conn, a.lab);
  const rows: z.output<typeof listRowSchema>[] = [];
  for (let pageNo = 1; pageNo <= LIST_PAGES_MAX; pageNo += 1) {
    const res = await call('ListOTAFirmware', {
      ProductKey: conn.productKey, CurrentPage: pageNo, PageSize: LIMITS.pageSizeMax,
    });
    const parsed = listAnswerSchema.safeParse(res);
    if (!parsed.success) throw issueError('BAD_ANSWER', parsed.error, { what: 'the lab\'s ListOTAFirmware answer' });
    const page = parsed.data.FirmwareInfo?.SimpleFirmwareInfo ?? [];
    rows.push(...page);
    if (pageNo >= (parsed.data.PageCount ?? 1) || page.length === 0) break;
  }
  const list = rows.map((r) => ({
    firmwareId: r.FirmwareId, name: r.FirmwareName ?? '', module: r.ModuleName || 'default', destVersion: r.DestVersion, srcVersion: r.SrcVersion || null,
    status: r.Status, statusText: firmwareStatusWord(r.Status), size: r.FirmwareSize ?? null, signMethod: r.SignMethod ?? null, createdAt: r.UtcCreate ?? null,
  }));
  if (a.json) {
    process.stdout.write(`${JSON.stringify({ schema: FIRMWARE_LIST_SCHEMA, productKey: conn.productKey, firmware: list }, null, 2)}\n`);
    return 0;
  }
  if (list.length === 0) {
    process.stdout.write(`no firmware in the lab yet (add one: ota-lab firmware add FILE --version V)\n`);
    return 0;
  }
  process.stdout.write(`${'FIRMWARE_ID'.padEnd(14)} ${'VERSION'.padEnd(12)} ${'MODULE'.padEnd(10)} ${'STATUS'.padEnd(21)} NAME\n`);
  for (const f of list) process.stdout.write(`${f.firmwareId.padEnd(14)} ${f.destVersion.padEnd(12)} ${f.module.padEnd(10)} ${f.statusText.padEnd(21)} ${f.name}\n`);
  return 0;
}

/** The document `firmware list --json` prints (README, the lab section). */
export const FIRMWARE_LIST_SCHEMA = 'ota-lab/firmware-list@1';
