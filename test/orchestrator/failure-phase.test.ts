// The failing phase of each device, read from the TaskDesc the platform shows, and carried into the
// JSON document, the JUnit file and the summary of the real ota-verify process.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab } from '../../lab/start-lab.js';
import { failurePhaseOf, withPhase } from '../../orchestrator/failure-phase.js';
import { addFirmware, deviceStatus } from '../helpers/lab-fixtures.js';
import { testAgent } from '../helpers/agent-fixtures.js';
import { BIN, runCliToEnd } from '../helpers/processes.js';
import { parseXmlTags } from '../helpers/xml-check.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'failure-phase-')); });
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('failure phase from TaskDesc', () => {
  it.each([
    ['download refused: HTTP 404', 'download'],
    ['download failed after 2 retries: HTTP 500', 'download'],
    ['download failed', 'download'],
    ['firmware URL is not https', 'download'],
    ['digest mismatch: expected 93230c3b…, got 1f2e…', 'verify'],
    ['signature does not verify with the configured key', 'verify'],
    ['verify failed', 'verify'],
    ['install hook exited 1: flash write failed: bad block at 0x3f000', 'install'],
    ['install hook timed out after 600 s', 'install'],
    ['burn failed', 'install'],
    ['version read back is 1.0.0, expected 2.0.0', 'version'],
    ['version command exited 1 and printed nothing', 'version'],
    ['report version is not conform', 'version'],
    ['self-test failed: no heartbeat on /dev/ttyUSB0 after 5 s', 'self-test'],
    ['self-test failed: install dir missing', 'self-test'],
  ])('%s -> %s', (desc, phase) => {
    expect(failurePhaseOf('FAILED', desc)).toBe(phase);
  });

  it('names no phase it cannot read, and none for a device that did not fail', () => {
    expect(failurePhaseOf('FAILED', 'timeout')).toBeNull();
    expect(failurePhaseOf('FAILED', 'bench needs recovery')).toBeNull();
    expect(failurePhaseOf('FAILED', '')).toBeNull();
    expect(failurePhaseOf('IN_PROGRESS', 'self-test 2/6')).toBeNull();
    expect(failurePhaseOf('SUCCEEDED', '')).toBeNull();
  });

  it('the live view and the summary lead a desc with its phase unless it already says it', () => {
    expect(withPhase('FAILED', 'digest mismatch')).toBe('verify: digest mismatch');
    expect(withPhase('FAILED', 'self-test failed: no heartbeat')).toBe('self-test failed: no heartbeat');
    expect(withPhase('FAILED', 'timeout')).toBe('timeout');
  });

  it('ota-verify: a failed self-test is the phase in the JSON and the JUnit failure type', async () => {
    const labFile = join(dir, 'lab.json');
    const lab = await startLab({ deviceCount: 1, throttle: 'off', connectionFile: labFile });
    cleanup.push(() => lab.close());
    const agent = await testAgent(lab, 'bench-01', { simulateFailure: 'health' });
    cleanup.push(() => agent.close());
    await deviceStatus(lab, 'bench-01');
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    const junit = join(dir, 'junit.xml');
    const r = await runCliToEnd(BIN.verify, ['verify', '--lab', labFile, '--firmware-id', firmwareId, '--devices', 'bench-01', '--poll-min-ms', '200', '--poll-max-ms', '1000', '--json', '--junit', junit]);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as { devices: { deviceName: string; status: string; phase: string | null; desc: string }[] };
    expect(doc.devices).toEqual([expect.objectContaining({ deviceName: 'bench-01', status: 'FAILED', phase: 'self-test' })]);
    expect(doc.devices[0]?.desc).toMatch(/^self-test failed: no heartbeat/);
    const failures = parseXmlTags(await readFile(junit, 'utf8')).filter((e) => e.name === 'failure');
    expect(failures.map((f) => f.attrs.type)).toEqual(['self-test']);
  });
});
