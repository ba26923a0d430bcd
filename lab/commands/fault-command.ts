// `ota-lab fault FIRMWARE_ID …`: set or clear the running lab's fault plan for one firmware.
import { OtaError } from '../../shared/errors.js';
import { readLabConnection } from '../../shared/lab-connection.js';
import type { FaultPlan } from '../faults.js';
import { labFetch } from './lab-api.js';

export interface FaultArgs {
  firmwareId: string;
  lab: string;
  clear: boolean;
  closeAfterBytes?: number;
  closeTimes?: number;
  bytesPerSec?: number;
  flipByteAt?: number;
  flipTimes?: number;
  errorStatus?: number;
  errorTimes?: number;
  extraBytes?: number;
}

export async function runFault(a: FaultArgs): Promise<number> {
  const conn = await readLabConnection(a.lab);
  const plan: FaultPlan = {};
  for (const k of ['closeAfterBytes', 'closeTimes', 'bytesPerSec', 'flipByteAt', 'flipTimes', 'errorStatus', 'errorTimes', 'extraBytes'] as const) {
    if (a[k] !== undefined) plan[k] = a[k];
  }
  if (!a.clear && Object.keys(plan).length === 0) {
    throw new OtaError('USAGE', 'say which fault to inject, or --clear', { expected: 'one of --close-after-bytes, --bytes-per-sec, --flip-byte-at, --error-status, --extra-bytes' });
  }
  const res = await labFetch(a.lab, conn, `${conn.fileServer}/admin/faults/${encodeURIComponent(a.firmwareId)}`, {
    method: a.clear ? 'DELETE' : 'PUT', headers: { authorization: `Bearer ${conn.adminToken}` }, ...(a.clear ? {} : { body: JSON.stringify(plan) }),
  });
  const body = (await res.json()) as { error?: string };
  if (!res.ok) throw new OtaError('USAGE', `the lab refused the fault: ${body.error ?? `HTTP ${res.status}`}`);
  process.stdout.write(a.clear ? `faults cleared for ${a.firmwareId}\n` : `fault set for ${a.firmwareId}: ${JSON.stringify(plan)}\n`);
  return 0;
}
