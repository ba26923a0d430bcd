// Hostile and wrong notices, sent raw from the platform side: each is refused at intake with step -1
// for the module it names (never installed anywhere else), and none blocks another module.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { addFirmware, createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { isProgressOf, observeLab } from '../helpers/observe-lab.js';
import { AGENT_LOG, expectNoSecretsIn, failuresIn, recordReceived, testAgent, versionKnown, type ReceivedProgress } from '../helpers/agent-fixtures.js';

let lab: Lab;
let dir: string;
let agent: Agent;
let marker: string;
let received: Awaited<ReturnType<typeof recordReceived>>;

beforeEach(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off' });
  dir = await mkdtemp(join(tmpdir(), 'agent-intake-'));
  marker = join(dir, 'hook-ran');
  received = await recordReceived(lab, 'bench-01');
  agent = await testAgent(lab, 'bench-01', {
    simulateInstall: false, installCommand: `echo "$OTA_MODULE $OTA_VERSION" >> ${marker}`,
    modules: [{ name: 'default', version: '1.0.0' }, { name: 'MCU', version: '1.0.0' }],
  });
  await deviceStatus(lab, 'bench-01');
  await versionKnown(lab, 'bench-01', 'MCU');
});
afterEach(async () => {
  await agent.close();
  await lab.close();
  await rm(dir, { recursive: true, force: true });
});
afterAll(() => { expectNoSecretsIn(AGENT_LOG); });

/** A notice as the platform sends it, for a real file on the lab's server (a valid digest). */
async function notice(data: Record<string, unknown>): Promise<Record<string, unknown>> {
  const content = Buffer.from('firmware '.repeat(500));
  const stored = await lab.putFirmwareFile('fw.bin', content);
  return {
    code: '1000', id: 1, message: 'success',
    data: { size: content.length, version: '9.9.9', url: stored.url, sign: createHash('sha256').update(content).digest('hex'), signMethod: 'SHA256', ...data },
  };
}

/** Send raw notices and wait until the agent handled them all. */
async function send(...payloads: (Record<string, unknown> | Buffer)[]): Promise<void> {
  let left = payloads.length;
  const handled = new Promise<void>((resolve) => {
    const on = () => { if (--left === 0) { agent.events.off('notice', on); resolve(); } };
    agent.events.on('notice', on);
  });
  for (const p of payloads) lab.sendRaw(`/ota/device/upgrade/${lab.connection.productKey}/bench-01`, Buffer.isBuffer(p) ? p : JSON.stringify(p));
  await handled;
}

/** Resolves once the lab received `n` failure steps from the device. */
async function failures(n: number): Promise<ReturnType<typeof failuresIn>> {
  const obs = await observeLab(lab);
  while (failuresIn(received.progress).length < n) await obs.next(isProgressOf('bench-01'));
  return failuresIn(received.progress);
}

const informed = (version: string) => received.informs.filter((i) => i.version === version);
const progressFor = (module: string): ReceivedProgress[] => received.progress.filter((p) => p.module === module);

describe('agent intake: modules', () => {
  it('refuses a notice for a module the bench does not have, for that module, and installs nothing', async () => {
    await send(await notice({ module: '../../etc' }), await notice({ module: 'MCU;rm -rf /' }), await notice({ module: 'wifi.fw' }), await notice({ module: 'GPS' }));
    const got = await failures(4);
    expect(got.map((f) => [f.module, f.step])).toEqual([['../../etc', -1], ['MCU;rm -rf /', -1], ['wifi.fw', -1], ['GPS', -1]]);
    expect(got[2]?.desc).toBe('module "wifi.fw" is not on this device');
    expect(got[3]?.desc).toBe('module "GPS" is not on this device');
    // Names unsafe to echo are described, not echoed.
    for (const f of got.slice(0, 2)) {
      expect(f.desc).toMatch(/^module \(\d+ characters, not shown.*\) is not on this device$/);
      expect(f.desc).not.toContain(f.module);
    }
    expect(existsSync(marker)).toBe(false);
    expect(informed('9.9.9')).toEqual([]);
    expect(progressFor('default')).toEqual([]);
    expect(progressFor('MCU')).toEqual([]);
  });

  it('takes a notice for a module it has (MCU) and hands that module to the hook', async () => {
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0', module: 'MCU' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect(await readFile(marker, 'utf8')).toBe('MCU 2.0.0\n');
  });
});

describe('agent intake: hostile notices', () => {
  it('refuses a version outside the platform rule with -1, and informs nothing', async () => {
    const bad = ['$(id)', '../../etc', '1.0\n', '1.0\u0000', 'v'.repeat(65)];
    await send(...await Promise.all(bad.map((version) => notice({ version }))));
    const got = await failures(bad.length);
    expect(got.map((f) => [f.module, f.step])).toEqual(bad.map(() => ['default', -1]));
    for (const f of got) expect(f.desc).toMatch(/version|bad notice/);
    expect(got[0]?.desc).toMatch(/^version \(5 characters, not shown.*is not a version/);
    expect(existsSync(marker)).toBe(false);
    for (const v of bad) expect(informed(v)).toEqual([]);
  });

  it('refuses a notice over 256 KiB before parsing it, with -1 for the module it names', async () => {
    const big = await notice({ module: 'MCU', extData: { pad: 'x'.repeat(300 * 1024) } });
    const noModule = await notice({ extData: { pad: 'y'.repeat(300 * 1024) } });
    await send(big, noModule);
    const got = await failures(2);
    expect(got.map((f) => [f.module, f.step])).toEqual([['MCU', -1], ['default', -1]]);
    expect(got[0]?.desc).toMatch(/^notice of \d+ bytes is over the 262144-byte limit$/);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses extData nested 40,000 deep or over 64 KiB, and another module still upgrades', async () => {
    // Written as text: JSON.stringify itself overflows the stack at this depth.
    const deep = Buffer.from(JSON.stringify(await notice({ module: 'MCU', extData: { deep: 'DEEP' } })).replace('"DEEP"', `${'{"a":'.repeat(40_000)}1${'}'.repeat(40_000)}`));
    await send(deep, await notice({ module: 'MCU', version: '9.9.8', extData: { pad: 'z'.repeat(70 * 1024) } }));
    const got = await failures(2);
    expect(got).toEqual([
      { module: 'MCU', step: -1, desc: 'extData is nested deeper than 16 levels' },
      { module: 'MCU', step: -1, desc: expect.stringMatching(/^extData is \d+ bytes as JSON; at most 65536$/) },
    ]);
    // Nothing of the refused notices was kept: the next upgrade (another module) runs as usual.
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect(informed('9.9.9')).toEqual([]);
  });

  it('refuses file:// with allowInsecureHttp on, without blaming allowInsecureHttp', async () => {
    await send(await notice({ url: 'file:///etc/passwd' }));
    const [f] = await failures(1);
    expect(f).toEqual({ module: 'default', step: -1, desc: 'download url scheme is file; expected https or http' });
    expect(existsSync(marker)).toBe(false);
  });
});
