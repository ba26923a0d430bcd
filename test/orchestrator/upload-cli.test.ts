// `ota-verify verify --file` and `ota-verify upload` as a user runs them (the built CLI in a real
// process) against the lab: GenerateOTAUploadURL → PostObject → CreateOTAFirmware → verify, the
// re-run that finds the firmware instead of uploading again, and the local refusals.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../shared/clock.js';
import { startLab, type Lab, type ApiRequestRecord } from '../../lab/start-lab.js';
import { FileServer } from '../../lab/file-server.js';
import { deviceStatus } from '../helpers/lab-fixtures.js';
import { testAgent } from '../helpers/agent-fixtures.js';
import { BIN, runCliToEnd } from '../helpers/processes.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'upload-cli-')); });
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function lab(benches: number, tls = false, clock?: ManualClock): Promise<{ lab: Lab; labFile: string }> {
  const labFile = join(dir, `lab-${Math.random().toString(36).slice(2)}.json`);
  const l = await startLab({ deviceCount: Math.max(benches, 1), throttle: 'off', connectionFile: labFile, tls }, clock ? { clock } : {});
  cleanup.push(() => l.close());
  for (let i = 1; i <= benches; i++) {
    const name = `bench-${String(i).padStart(2, '0')}`;
    const a = await testAgent(l, name);
    cleanup.push(() => a.close());
    await deviceStatus(l, name);
  }
  return { lab: l, labFile };
}

async function firmwareFile(name: string, bytes: number): Promise<{ path: string; content: Buffer }> {
  const content = randomBytes(bytes);
  const path = join(dir, name);
  await writeFile(path, content);
  return { path, content };
}

const calls = (l: Lab, action: string) => l.requests.filter((r) => r.action === action).length;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('ota-verify verify --file', () => {
  it('uploads, registers and verifies a built file in one command; a second run finds it instead of uploading', async () => {
    const { lab: l, labFile } = await lab(2);
    const { path, content } = await firmwareFile('fw.bin', 4 * 1024 * 1024 + 17);
    const args = ['verify', '--lab', labFile, '--file', path, '--version', '2.1.0', '--devices', 'bench-01,bench-02', '--poll-min-ms', '200', '--poll-max-ms', '1000'];
    const r = await runCliToEnd(BIN.verify, [...args, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { verdict: string; firmwareId: string; devices: { status: string }[] };
    expect(doc.verdict).toBe('verified');
    expect(doc.devices.map((d) => d.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    // The lab holds one firmware: the file's digest and size, its URL an object uploaded by PostObject.
    expect(l.store.state.firmware).toHaveLength(1);
    const fw = l.store.state.firmware[0];
    expect(fw).toMatchObject({ firmwareId: doc.firmwareId, firmwareName: 'fw-2.1.0', destVersion: '2.1.0', moduleName: 'default', signMethod: 'SHA256', firmwareSign: sha256(content), firmwareSize: content.length, status: 1 });
    const key = FileServer.objectKeyOf(fw?.firmwareUrl ?? '');
    expect(key).toMatch(/^up[0-9a-f]{16}\/[0-9a-f]{16}\.bin$/);
    const stored = await fetch(l.files.signedUrl(fw?.firmwareUrl ?? '', 60));
    expect(sha256(Buffer.from(await stored.arrayBuffer()))).toBe(sha256(content));
    expect(calls(l, 'GenerateOTAUploadURL')).toBe(1);

    const again = await runCliToEnd(BIN.verify, args);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain('not uploading it again');
    // Verified by a job on these benches: that job's verdict, re-read, not a second job.
    expect(again.stdout).toContain('is verified');
    // Nothing new on the platform side: no upload policy asked for, no firmware, no job.
    expect(calls(l, 'GenerateOTAUploadURL')).toBe(1);
    expect(calls(l, 'CreateOTAFirmware')).toBe(1);
    expect(l.store.state.firmware).toHaveLength(1);
    expect(l.store.state.jobs).toHaveLength(1);
  }, 120_000);

  it('refuses a file over 1,000 MB before any API call (exit 2)', async () => {
    const { lab: l, labFile } = await lab(0);
    const big = join(dir, 'big.bin');
    await writeFile(big, '');
    await truncate(big, 1000 * 1024 * 1024 + 1); // sparse: no disk used
    const r = await runCliToEnd(BIN.verify, ['verify', '--lab', labFile, '--file', big, '--version', '2.1.0', '--devices', 'bench-01']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('1,000 MB');
    expect(l.requests).toHaveLength(0);
    const up = await runCliToEnd(BIN.verify, ['upload', big, '--lab', labFile, '--version', '2.1.0']);
    expect(up.code, up.stderr).toBe(2);
    expect(l.requests).toHaveLength(0);
  });

  it('refuses a changed file under a version already registered (exit 2), without uploading it', async () => {
    const { lab: l, labFile } = await lab(0);
    const first = await firmwareFile('a.bin', 1000);
    expect((await runCliToEnd(BIN.verify, ['upload', first.path, '--lab', labFile, '--version', '3.0.0'])).code).toBe(0);
    const changed = await firmwareFile('a.bin', 1001);
    const r = await runCliToEnd(BIN.verify, ['verify', '--lab', labFile, '--file', changed.path, '--version', '3.0.0', '--devices', 'bench-01']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`firmware ${l.store.state.firmware[0]?.firmwareId ?? '?'}`);
    expect(r.stderr).toContain('new --version');
    expect(calls(l, 'GenerateOTAUploadURL')).toBe(1);
    expect(l.store.state.firmware).toHaveLength(1);
  });

  it('refuses mixed or missing flags with exit 2 and no API call', async () => {
    const { lab: l, labFile } = await lab(0);
    const { path } = await firmwareFile('u.bin', 10);
    const cases = [
      ['verify', '--lab', labFile, '--file', path, '--devices', 'bench-01'],
      ['verify', '--lab', labFile, '--file', path, '--version', '1.0.0', '--firmware-id', 'fw1', '--devices', 'bench-01'],
      ['verify', '--lab', labFile, '--version', '1.0.0', '--firmware-id', 'fw1', '--devices', 'bench-01'],
      ['verify', '--lab', labFile, '--devices', 'bench-01'],
      ['upload', join(dir, 'missing.bin'), '--lab', labFile, '--version', '1.0.0'],
      ['upload', path, '--lab', labFile, '--version', 'bad version'],
      ['upload', path, '--lab', labFile, '--version', '1.0.0', '--src-version', '1.0.0'],
    ];
    for (const args of cases) {
      const r = await runCliToEnd(BIN.verify, args);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^ota-verify: /);
    }
    expect(l.requests).toHaveLength(0);
  });
});

describe('ota-verify upload', () => {
  it('uploads and registers alone, printing the FirmwareId (--json: the document); again: the same id, nothing uploaded', async () => {
    const { lab: l, labFile } = await lab(0);
    const { path, content } = await firmwareFile('mcu-image.bin', 300_000);
    const args = ['upload', path, '--lab', labFile, '--version', '1.4.0', '--module', 'MCU', '--sign-method', 'MD5', '--src-version', '1.3.0', '--desc', 'nightly', '--udi', '{"x":1}'];
    const plain = await runCliToEnd(BIN.verify, args);
    expect(plain.code, plain.stderr).toBe(0);
    const fw = l.store.state.firmware[0];
    expect(plain.stdout).toBe(`${fw?.firmwareId}\n`);
    expect(fw).toMatchObject({
      firmwareName: 'mcu-image-1.4.0', moduleName: 'MCU', destVersion: '1.4.0', srcVersion: '1.3.0', type: 1, signMethod: 'MD5',
      firmwareSign: createHash('md5').update(content).digest('hex'), firmwareSize: content.length, firmwareDesc: 'nightly', udi: '{"x":1}', status: 0,
    });
    const json = await runCliToEnd(BIN.verify, [...args, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ schema: 'ota-verify/upload@1', firmwareId: fw?.firmwareId, reused: true, signMethod: 'MD5', firmwareSize: content.length });
    expect(calls(l, 'GenerateOTAUploadURL')).toBe(1);
    expect(l.store.state.firmware).toHaveLength(1);
    expect(await readFile(path)).toEqual(content);
  });
});

describe('ota-verify upload, finding the firmware among many', () => {
  it('pages through ListOTAFirmware: a firmware past the first 100 is found, not uploaded again', async () => {
    const { lab: l, labFile } = await lab(0);
    const { path } = await firmwareFile('paged.bin', 2000);
    const first = await runCliToEnd(BIN.verify, ['upload', path, '--lab', labFile, '--version', '7.0.0']);
    expect(first.code, first.stderr).toBe(0);
    // 150 other firmware registered before it: ours is on ListOTAFirmware's second page.
    const ours = l.store.state.firmware.splice(0);
    for (let i = 0; i < 150; i++) {
      l.store.state.firmware.push({ ...structuredClone(ours[0]!), firmwareId: `fwother${i}`, firmwareName: `other-${i}`, destVersion: `6.${i}` });
    }
    l.store.state.firmware.push(...ours);
    const again = await runCliToEnd(BIN.verify, ['upload', path, '--lab', labFile, '--version', '7.0.0', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ firmwareId: ours[0]?.firmwareId, reused: true });
    expect(calls(l, 'GenerateOTAUploadURL')).toBe(1);
    expect(l.requests.filter((r) => r.action === 'ListOTAFirmware').length).toBeGreaterThanOrEqual(3);
  });
});

describe('ota-verify upload when the policy has expired on arrival', () => {
  it('asks for a fresh policy once and uploads with it', async () => {
    const clock = new ManualClock(Date.now());
    const { lab: l, labFile } = await lab(0, false, clock);
    // The lab's minute passes right after it hands out the first policy (as on a slow or queued link).
    const push = l.requests.push.bind(l.requests);
    let jumped = false;
    l.requests.push = (...rows: ApiRequestRecord[]) => {
      if (!jumped && rows[0]?.action === 'GenerateOTAUploadURL') { jumped = true; clock.advance(61_000); }
      return push(...rows);
    };
    const { path, content } = await firmwareFile('late.bin', 3000);
    const r = await runCliToEnd(BIN.verify, ['upload', path, '--lab', labFile, '--version', '8.0.0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Policy expired');
    expect(calls(l, 'GenerateOTAUploadURL')).toBe(2);
    expect(l.store.state.firmware).toHaveLength(1);
    expect(l.store.state.firmware[0]?.firmwareSign).toBe(sha256(content));
  });
});

describe('ota-verify upload to a lab with --tls', () => {
  it('says how to trust the lab\'s CA when the store\'s certificate is not trusted (exit 3, one try), and uploads once it is', async () => {
    const { lab: l, labFile } = await lab(0, true);
    const { path } = await firmwareFile('tls.bin', 5000);
    const untrusted = await runCliToEnd(BIN.verify, ['upload', path, '--lab', labFile, '--version', '1.0.0']);
    expect(untrusted.code, untrusted.stderr).toBe(3);
    expect(untrusted.stderr).toContain(`expected: the lab's CA trusted: run with NODE_EXTRA_CA_CERTS=${l.connection.caFile ?? '?'}`);
    expect(calls(l, 'GenerateOTAUploadURL')).toBe(1);
    const trusted = await runCliToEnd(BIN.verify, ['upload', path, '--lab', labFile, '--version', '1.0.0'], { env: { NODE_EXTRA_CA_CERTS: l.connection.caFile } });
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(trusted.stdout).toBe(`${l.store.state.firmware[0]?.firmwareId}\n`);
  });
});
