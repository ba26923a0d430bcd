// Finding a firmware already registered for a file: same product, module, version (and source
// version for a delta) and the same digest. ListOTAFirmware pages through the account's firmware;
// a row that lacks the digest or the product is read whole with QueryOTAFirmware.
import { z } from 'zod';
import { OtaError } from '../shared/errors.js';
import { DEFAULT_MODULE, LIMITS } from '../shared/platform-rules.js';
import type { PlatformApi } from './platform-api.js';
import type { UploadRequest } from './upload-request.js';

export const firmwareRowSchema = z.object({
  FirmwareId: z.string().min(1).max(128),
  FirmwareName: z.string().max(200).optional(),
  ProductKey: z.string().max(64).optional(),
  ModuleName: z.string().max(64).optional(),
  DestVersion: z.string().max(64).optional(),
  SrcVersion: z.string().max(64).optional(),
  SignMethod: z.string().max(16).optional(),
  FirmwareSign: z.string().max(128).optional(),
  FirmwareSize: z.coerce.number().optional(),
  FirmwareUrl: z.string().max(4096).optional(),
  Status: z.coerce.number().int().optional(),
});
export type FirmwareRow = z.infer<typeof firmwareRowSchema>;

const listSchema = z.object({ FirmwareInfo: z.object({ SimpleFirmwareInfo: z.array(firmwareRowSchema).max(LIMITS.pageSizeMax) }).optional() });
const querySchema = z.object({ FirmwareInfo: firmwareRowSchema });

export interface FileDigests {
  md5: string;
  sha256: string;
}

/** Read and check one answer: a platform answer we cannot read is a platform failure (exit 3), never a guess. */
export function parseAnswer<T>(schema: z.ZodType<T>, action: string, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new OtaError('BAD_RESPONSE', `${action} answered in an unexpected form: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'unreadable'}`, { details: { action } });
}

export async function queryFirmwareRow(api: PlatformApi, firmwareId: string, iotInstanceId: string | undefined): Promise<FirmwareRow> {
  const r = await api.request('QueryOTAFirmware', { FirmwareId: firmwareId, IotInstanceId: iotInstanceId });
  return parseAnswer(querySchema, 'QueryOTAFirmware', r).FirmwareInfo;
}

function digestOf(method: string | undefined, d: FileDigests): string | undefined {
  const m = method?.toUpperCase();
  return m === 'MD5' ? d.md5 : m === 'SHA256' ? d.sha256 : undefined;
}

/** The firmware this file already is, if registered; refuses when the same product, module and
 *  version hold another file (a changed build must get a new version before it is verified). */
export async function findRegistered(api: PlatformApi, req: UploadRequest, digests: FileDigests): Promise<FirmwareRow | undefined> {
  const rows = await api.all('ListOTAFirmware', { IotInstanceId: req.iotInstanceId }, LIMITS.pageSizeMax,
    (r) => parseAnswer(listSchema, 'ListOTAFirmware', r).FirmwareInfo?.SimpleFirmwareInfo ?? []);
  const sameVersion = rows.filter((r) => r.DestVersion === req.version && (r.ProductKey === undefined || r.ProductKey === req.productKey));
  let other: FirmwareRow | undefined;
  for (const row of sameVersion) {
    const full = row.ProductKey && row.ModuleName && row.FirmwareSign && row.SignMethod ? row : await queryFirmwareRow(api, row.FirmwareId, req.iotInstanceId);
    if (full.ProductKey !== req.productKey || (full.ModuleName || DEFAULT_MODULE) !== req.moduleName || (full.SrcVersion ?? '') !== (req.srcVersion ?? '')) continue;
    const want = digestOf(full.SignMethod, digests);
    if (want && full.FirmwareSign?.toLowerCase() === want && (full.FirmwareSize === undefined || full.FirmwareSize === req.sizeBytes)) return full;
    other ??= full;
  }
  if (other) {
    throw new OtaError('REFUSED', `firmware ${other.FirmwareId}${other.FirmwareName ? ` (${other.FirmwareName})` : ''} is already version ${req.version} of module ${req.moduleName} in product ${req.productKey}, with another file (${other.SignMethod ?? '?'} ${other.FirmwareSign ?? '?'}); ${req.fileName} differs`, {
      expected: 'a new --version for a changed build (or --firmware-id to verify the registered one)',
    });
  }
  return undefined;
}
