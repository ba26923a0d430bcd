// `lab.json`: what `ota-lab start` writes and `--lab lab.json` reads in the agent and the
// orchestrator. It holds secrets, so it is written 0600 and atomically.
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.js';
import { OtaError } from './errors.js';
import { readUserFile } from './user-file.js';
import { issueError } from './zod-issue.js';

export const labConnectionSchema = z.object({
  kind: z.literal('ota-lab'),
  apiEndpoint: z.string().url(),
  regionId: z.string().min(1),
  accessKeyId: z.string().min(1),
  accessKeySecret: z.string().min(1),
  productKey: z.string().min(1),
  devices: z.array(z.object({ deviceName: z.string().min(1), deviceSecret: z.string().min(1) })).min(1),
  mqttUrl: z.string().min(1),
  /** The CA that signed the lab's TLS certificates, when TLS is on. */
  caFile: z.string().optional(),
  fileServer: z.string().url(),
  adminToken: z.string().min(1),
  /** The lab serves firmware over plain HTTP on loopback; agents may accept that only from here. */
  allowInsecureHttp: z.boolean(),
  pid: z.number().int().optional(),
  /** Set when the lab runs as an enterprise instance (`--instance-id`): every API call must pass it. */
  iotInstanceId: z.string().min(1).optional(),
  /** Set by `ota-lab demo`: the lab ends with the demo, so there is nothing to re-attach to afterwards. */
  ephemeral: z.boolean().optional(),
});
export type LabConnection = z.infer<typeof labConnectionSchema>;

export async function writeLabConnection(file: string, conn: LabConnection): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(conn, null, 2)}\n`, 0o600);
}

/** The most devices one lab creates (`ota-lab start --devices`): lab.json lists every one of them. */
export const LAB_DEVICES_MAX = 100_000;

/** One device as the lab writes it (2-space indent): 126 bytes with a 32-character name (the
 *  platform's longest; the lab's own are at most 30) and its 32-hex-digit secret. Measured: 105
 *  bytes a device for bench-NNNNNN names. */
const DEVICE_ENTRY_MAX_BYTES = 128;

/** Everything else: endpoints, keys, product, instance id and the CA file's path (up to 4096). */
const FIXED_PART_MAX_BYTES = 64 * 1024;

/** The largest lab.json the lab can write, in whole MiB (13 MiB): read by every CLI and by a lab
 *  starting over a file a killed lab left, so the file of the largest lab is never refused, and a
 *  file far larger is refused before it is read. */
export const LAB_FILE_MAX_BYTES = Math.ceil((LAB_DEVICES_MAX * DEVICE_ENTRY_MAX_BYTES + FIXED_PART_MAX_BYTES) / (1024 * 1024)) * 1024 * 1024;

const LAB_FILE_RULES = Object.freeze({
  what: 'lab connection file', code: 'LAB_FILE_UNREADABLE', expected: 'the lab.json written by `ota-lab start`', maxBytes: LAB_FILE_MAX_BYTES,
});

export async function readLabConnection(file: string): Promise<LabConnection> {
  const text = await readUserFile(file, LAB_FILE_RULES);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new OtaError('LAB_FILE_INVALID', `${file} is not JSON`, { expected: 'the lab.json written by `ota-lab start`', cause });
  }
  const parsed = labConnectionSchema.safeParse(json);
  // No `input`: the file holds secrets, so the refusal never quotes a value from it.
  if (!parsed.success) throw issueError('LAB_FILE_INVALID', parsed.error, { what: file, expected: 'the lab.json written by `ota-lab start`' });
  return parsed.data;
}
