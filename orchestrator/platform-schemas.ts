// The platform's answers as ota-verify reads them, checked at the boundary: a field the verdict
// depends on that is missing or of the wrong type is a clear error naming the action and the field,
// never an `undefined` that turns into a wrong verdict later. Unknown fields are ignored (the
// platform adds fields over time); numbers may come as strings (older answers do).
import { z } from 'zod';
import { OtaError } from '../shared/errors.js';
import type { ApiResponse } from '../shared/openapi-client.js';

const num = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/).transform(Number)]);
const str = z.union([z.string(), z.number().transform(String)]);

export const firmwareInfoSchema = z.object({
  FirmwareId: str,
  ProductKey: z.string(),
  DestVersion: z.string(),
  SrcVersion: z.string().optional().nullable(),
  /** 0 full package, 1 delta. */
  Type: num.optional().nullable(),
  ModuleName: z.string().optional().nullable().transform((m) => m || 'default'),
  Status: num,
  VerifyProgress: num.optional().nullable().transform((v) => v ?? 0),
  FirmwareName: z.string().optional().nullable(),
});
export type FirmwareInfo = z.infer<typeof firmwareInfoSchema>;

export const jobRowSchema = z.object({ JobId: str, JobType: z.string(), JobStatus: z.string(), UtcCreate: z.string().optional().nullable() });
export type JobRow = z.infer<typeof jobRowSchema>;

export const jobDetailSchema = z.object({ JobId: str.optional(), FirmwareId: str, ProductKey: z.string(), JobStatus: z.string(), JobType: z.string().optional() });
export type JobDetail = z.infer<typeof jobDetailSchema>;

export const taskRowSchema = z.object({
  TaskId: str,
  DeviceName: z.string(),
  TaskStatus: z.string(),
  Progress: num.optional().nullable().transform((v) => v ?? 0),
  TaskDesc: z.string().optional().nullable().transform((v) => v ?? ''),
  SrcVersion: z.string().optional().nullable().transform((v) => v ?? ''),
  DestVersion: z.string().optional().nullable().transform((v) => v ?? ''),
  JobId: str.optional().nullable(),
  FirmwareId: str.optional().nullable(),
  ModuleName: z.string().optional().nullable(),
});
export type TaskRow = z.infer<typeof taskRowSchema>;

export const deviceInfoSchema = z.object({ DeviceName: z.string(), Status: z.string().optional().nullable(), FirmwareVersion: z.string().optional().nullable() });
export type DeviceInfo = z.infer<typeof deviceInfoSchema>;

const rows = <T extends z.ZodTypeAny>(key: string, row: T) => z.object({ [key]: z.array(row).max(10_000).optional().nullable() }).optional().nullable();

export const answers = {
  QueryOTAFirmware: z.object({ FirmwareInfo: firmwareInfoSchema }),
  QueryOTAJob: z.object({ Data: jobDetailSchema }),
  ListOTAJobByFirmware: z.object({ PageCount: num.optional(), Data: rows('SimpleOTAJobInfo', jobRowSchema) }),
  ListOTATaskByJob: z.object({ PageCount: num.optional(), Data: rows('SimpleOTATaskInfo', taskRowSchema) }),
  ListOTAUnfinishedTaskByDevice: z.object({ Data: rows('SimpleOTATaskInfo', taskRowSchema) }),
  // The reference shows the rows in Data.Data; a flat Data array is read too.
  BatchQueryDeviceDetail: z.object({ Data: z.union([z.array(deviceInfoSchema), z.object({ Data: z.array(deviceInfoSchema).optional().nullable() })]).optional().nullable() }),
  QueryDeviceDetail: z.object({ Data: deviceInfoSchema }),
  CreateOTAVerifyJob: z.object({ Data: z.object({ JobId: str }) }),
} as const;

/** The answer of `action` checked against its schema; a malformed answer is a platform failure (exit 3). */
export function parseAnswer<A extends keyof typeof answers>(action: A, r: ApiResponse): z.infer<(typeof answers)[A]> {
  const parsed = answers[action].safeParse(r);
  // The parsed value is that schema's output; TypeScript cannot follow the generic index by itself.
  if (parsed.success) return parsed.data as z.infer<(typeof answers)[A]>;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  throw new OtaError('PLATFORM_INVALID_ANSWER', `${action} answered something ota-verify cannot read: field "${field}" ${issue?.message ?? 'is invalid'}`, {
    expected: `the ${action} answer documented by the platform`, details: { action, field, requestId: typeof r.RequestId === 'string' ? r.RequestId : undefined },
  });
}

/** The rows of a list answer, whichever of its two places the platform put them in. */
export function rowsOf<T>(data: { [k: string]: T[] | null | undefined } | null | undefined, key: string): T[] {
  return data?.[key] ?? [];
}
