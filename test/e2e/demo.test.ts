// The demo as a user runs it: the built CLI, real processes for the lab, the agents and ota-verify.
import { describe, expect, it } from 'vitest';
import { BIN, runCliToEnd } from '../helpers/processes.js';

describe('ota-lab demo', () => {
  it('verifies the firmware on five benches and exits 0', async () => {
    const r = await runCliToEnd(BIN.lab, ['demo']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/bench-05\s+SUCCEEDED\s+100%/);
    // One command from the built file: ota-verify uploads and registers it, then verifies it.
    expect(r.stdout).toMatch(/\$ ota-verify verify .*--file \S+demo-firmware\.bin --version 2\.0\.0/);
    expect(r.stdout).toMatch(/uploading demo-firmware\.bin \(8\.0 MiB\)[^\n]*\nregistered firmware \S+ \(demo-firmware-2\.0\.0\)/);
    expect(r.stdout).toContain('ota-verify exited 0: firmware verified');
    expect(r.stdout).toMatch(/removed \S+ota-demo-\S+ \(--keep keeps it/);
  });

  it.each([
    ['digest', /FAILED bench-0\d: digest mismatch/],
    ['download', /FAILED bench-0\d: download refused: HTTP 404/],
    ['install', /FAILED bench-03: install hook exited 1: flash write failed/],
  ])('with --fail %s exits 1 and names the bench and the reason', async (kind, re) => {
    const r = await runCliToEnd(BIN.lab, ['demo', '--devices', '3', '--size', '1MiB', '--fail', kind]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(re);
    expect(r.stdout).toContain('verification failed');
  });

  it('with --fail offline exits 1 when the silent bench times out', async () => {
    const r = await runCliToEnd(BIN.lab, ['demo', '--devices', '2', '--size', '4MiB', '--fail', 'offline']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAILED bench-02: timeout/);
  }, 180_000);

  it('refuses a bad --devices or --size with exit 2', async () => {
    expect((await runCliToEnd(BIN.lab, ['demo', '--devices', '11'])).code).toBe(2);
    const size = await runCliToEnd(BIN.lab, ['demo', '--size', 'huge']);
    expect(size.code).toBe(2);
    expect(size.stderr).toContain('512KiB');
  });
});
