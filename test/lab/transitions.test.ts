// The three lifecycle tables: what may follow what, and that anything else is refused.
import { describe, expect, it } from 'vitest';
import { FIRMWARE_STATUS as F, type FirmwareStatus } from '../../shared/platform-rules.js';
import { canMoveFirmware, canMoveTask, moveFirmware, moveJob, moveTask } from '../../lab/transitions.js';

describe('lifecycle tables', () => {
  it('moves a firmware unverified → verifying → verified or failed, and failed back to verifying only', () => {
    const fw: { firmwareId: string; status: FirmwareStatus } = { firmwareId: 'fw1', status: F.unverified };
    moveFirmware(fw, F.verifying);
    moveFirmware(fw, F.verificationFailed);
    moveFirmware(fw, F.verifying);
    moveFirmware(fw, F.verified);
    expect(fw.status).toBe(F.verified);
    expect(() => moveFirmware(fw, F.verifying)).toThrow(/cannot go from 1 to 2/);
    expect(canMoveFirmware(F.noVerificationNeeded, F.verifying)).toBe(false);
    expect(canMoveFirmware(F.unverified, F.verified)).toBe(false);
  });

  it('refuses a task move the platform has no path for, naming what may follow', () => {
    const task = { taskId: 't1', status: 'SUCCEEDED' as const };
    expect(() => moveTask(task, 'QUEUED')).toThrow(expect.objectContaining({ code: 'ILLEGAL_TRANSITION', expected: 'no further change' }) as Error);
    expect(canMoveTask('CONFIRM', 'IN_PROGRESS')).toBe(false);
    expect(canMoveTask('FAILED', 'QUEUED')).toBe(true);
  });

  it('reopens a completed job, and never plans one again', () => {
    const job = { jobId: 'j1', status: 'COMPLETED' as 'PLANNED' | 'IN_PROGRESS' | 'COMPLETED' | 'CANCELED' };
    moveJob(job, 'IN_PROGRESS');
    expect(job.status).toBe('IN_PROGRESS');
    expect(() => moveJob(job, 'PLANNED')).toThrow(/cannot go from IN_PROGRESS to PLANNED/);
  });
});
