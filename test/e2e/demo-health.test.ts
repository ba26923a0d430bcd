// `ota-lab demo --fail health|rollback` as a user runs it: built CLIs, real processes.
import { describe, expect, it } from 'vitest';
import { BIN, runCliToEnd } from '../helpers/processes.js';

describe('ota-lab demo: self-test and rollback', () => {
  it('--fail health exits 1, names the bench and "self-test failed", and the bench ends on its previous version', async () => {
    const r = await runCliToEnd(BIN.lab, ['demo', '--devices', '3', '--size', '1MiB', '--fail', 'health']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAILED bench-03: self-test failed: no heartbeat from bench-03/);
    expect(r.stdout).toContain('verification failed');
    // The lab's QueryDeviceDetail: the agents start on 0.0.0 and the failing bench was put back there.
    expect(r.stdout).toContain('bench-03: QueryDeviceDetail FirmwareVersion = 0.0.0');
    expect(r.stdout).toMatch(/module default: ready \(last upgrade to 2\.0\.0 failed, back on 0\.0\.0/);
  });

  it('--fail rollback shows the bench needing recovery', async () => {
    const r = await runCliToEnd(BIN.lab, ['demo', '--devices', '2', '--size', '1MiB', '--fail', 'rollback']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAILED bench-02: self-test failed/);
    expect(r.stdout).toMatch(/module default: NEEDS RECOVERY .*rollback failed: flash is write-protected \(simulated\)/);
    expect(r.stdout).toContain('ota-agent reset --module default');
  });
});
