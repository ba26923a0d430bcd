// Message schemas of docs/platform.md (§ Inform to § Firmware get), tolerant exactly where the platform's sources disagree:
// `id` as number or numeric string, signMethod in any case, `module` optional, `files[]` for
// multi-file packages. Parsing names the bad field; the documented payloads are the test fixtures.
import { z } from 'zod';
import { OtaError, quote } from './errors.js';
import { LIMITS } from './platform-rules.js';
import { issueError } from './zod-issue.js';

/** MQTT payloads above this are refused before JSON.parse: the platform's own limit is 256 KiB. */
export const MAX_PAYLOAD_BYTES = LIMITS.mqttPayloadMaxBytes;

const messageId = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d{1,20}$/, 'a numeric string'),
]);

const versionString = z.string().min(1).max(64);
const moduleName = z.string().min(1).max(64);

/** Always one of two spellings after parsing, whatever case the sender used. */
export type SignMethod = 'MD5' | 'SHA256';

const signMethod = z
  .string()
  .transform((s, ctx) => {
    const upper = s.toUpperCase();
    if (upper === 'MD5' || upper === 'SHA256') return upper;
    ctx.addIssue({ code: 'custom', message: `unknown sign method ${quote(s)}; expected Md5 or SHA256 in any case` });
    return z.NEVER;
  });

export const informSchema = z.object({
  id: messageId,
  params: z.object({ version: versionString, module: moduleName.optional() }),
});
export type InformMessage = z.infer<typeof informSchema>;

/** step is a string on the wire; a number is tolerated. -1..-4 are the failure codes. */
const step = z
  .union([z.string().regex(/^-?\d{1,3}$/, 'a whole number as a string'), z.number().int()])
  .transform((v) => Number(v))
  .refine((n) => n >= -4 && n <= 100, 'a step from -4 to 100');

export const progressSchema = z.object({
  id: messageId,
  params: z.object({
    step,
    desc: z.string().max(1024).optional(),
    module: moduleName.optional(),
  }),
});
export type ProgressMessage = z.infer<typeof progressSchema>;

export const firmwareGetSchema = z.object({
  id: messageId,
  version: z.string().optional(),
  method: z.string().optional(),
  params: z.object({ module: moduleName.optional() }).optional(),
});
export type FirmwareGetMessage = z.infer<typeof firmwareGetSchema>;

const hexDigest = z.string().regex(/^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{64}$/, '32 or 64 hex characters');

export const noticeFileSchema = z.object({
  fileName: z.string().min(1).max(255),
  fileUrl: z.string().min(1),
  fileSize: z.number().int().positive(),
  fileSign: hexDigest.optional(),
  fileMd5: hexDigest.optional(),
});
export type NoticeFile = z.infer<typeof noticeFileSchema>;

export const noticeDataSchema = z.object({
  size: z.number().int().positive(),
  version: versionString,
  url: z.string().min(1).optional(),
  md5: hexDigest.optional(),
  sign: hexDigest.optional(),
  signMethod,
  module: moduleName.optional(),
  isDiff: z.number().int().optional(),
  digestsign: z.string().optional(),
  extData: z.record(z.string(), z.unknown()).optional(),
  files: z.array(noticeFileSchema).min(1).max(LIMITS.multiFilesMax).optional(),
  dProtocol: z.string().optional(),
  streamId: z.union([z.number(), z.string()]).optional(),
  streamFileId: z.union([z.number(), z.string()]).optional(),
});
export type NoticeData = z.infer<typeof noticeDataSchema>;

export const upgradeNoticeSchema = z.object({
  code: z.union([z.string(), z.number()]).optional(),
  message: z.string().optional(),
  id: messageId,
  data: noticeDataSchema,
});
export type UpgradeNotice = z.infer<typeof upgradeNoticeSchema>;

export const firmwareGetReplySchema = z.object({
  id: messageId,
  code: z.union([z.number(), z.string()]),
  data: z.union([noticeDataSchema, z.object({}).strict()]).optional(),
});
export type FirmwareGetReply = z.infer<typeof firmwareGetReplySchema>;

/**
 * Decode and validate one MQTT payload. Throws OtaError BAD_MESSAGE naming the first bad field
 * (`params.version`, `data.sign`, …) so a log line says exactly what a device got wrong.
 */
export function parseMessage<S extends z.ZodType>(schema: S, payload: Buffer | string, what: string): z.infer<S> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_PAYLOAD_BYTES) {
    throw new OtaError('BAD_MESSAGE', `${what}: payload of ${size} bytes is over the ${MAX_PAYLOAD_BYTES}-byte limit`, {
      expected: `at most ${MAX_PAYLOAD_BYTES} bytes`, found: `${size} bytes`, details: { field: '' },
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch (cause) {
    throw new OtaError('BAD_MESSAGE', `${what}: payload is not JSON`, {
      expected: 'a JSON object', found: quote(payload.toString()), cause, details: { field: '' },
    });
  }
  const result = schema.safeParse(json);
  if (!result.success) throw issueError('BAD_MESSAGE', result.error, { what, input: json });
  return result.data;
}
