// The device secret never reaches the install hook or the version command, and what the hook says
// on stderr is redacted before it becomes the desc the platform shows.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { addFirmware, createVerifyJob, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, failuresIn, recordReceived, testAgent, versionKnown } from '../helpers/agent-fixtures.js';

let lab: Lab;
let dir: string;
let agent: Agent | undefined;
const saved = { ...process.env };

beforeEach(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off' });
  dir = await mkdtemp(join(tmpdir(), 'agent-secrets-'));
});
afterEach(async () => {
  await agent?.close();
  await lab.close();
  await rm(dir, { recursive: true, force: true });
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});
afterAll(() => { expectNoSecretsIn(AGENT_LOG); });

describe('agent secrets and commands', () => {
  it('runs the hook and the version command without the secret, and redacts the hook\'s stderr', async () => {
    const secret = lab.connection.devices[0]?.deviceSecret ?? '';
    // As a bench runs it: the secret in OTA_DEVICE_SECRET, and (by mistake) in another variable too.
    process.env.OTA_DEVICE_SECRET = secret;
    process.env.BENCH_NOTES = `key is ${secret}`;
    process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET = 'cloud-secret-value';
    process.env.BENCH_PLAIN = 'kept';
    const hookEnv = join(dir, 'hook-env');
    const versionEnv = join(dir, 'version-env');
    const received = await recordReceived(lab, 'bench-01');
    agent = await testAgent(lab, 'bench-01', {
      simulateInstall: false,
      // The secret written literally in the command reaches stderr: it must not reach the platform.
      installCommand: `env > ${hookEnv}; echo "flash refused, key ${secret} at https://x.invalid/f?Signature=abc123" >&2; exit 1`,
      modules: [{ name: 'default', versionCommand: `env > ${versionEnv}; echo 1.0.0` }],
    });
    await versionKnown(lab, 'bench-01');
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await taskReaches(lab, 'bench-01', 'FAILED');
    expect(failuresIn(received.progress)).toEqual([
      { module: 'default', step: -4, desc: 'install hook exited 1: flash refused, key [redacted] at https://x.invalid/f?Signature=[redacted]' },
    ]);
    for (const file of [hookEnv, versionEnv]) {
      const env = await readFile(file, 'utf8');
      expect(env).not.toContain(secret);
      expect(env).not.toMatch(/^OTA_DEVICE_SECRET=/m);
      expect(env).not.toMatch(/^BENCH_NOTES=/m);
      expect(env).not.toContain('cloud-secret-value');
      expect(env).toMatch(/^BENCH_PLAIN=kept$/m);
    }
    expect(await readFile(hookEnv, 'utf8')).toMatch(/^OTA_VERSION=2\.0\.0$/m);
  });

  it('runs the health, rollback and recover commands like the hook: no secret in their environment, their lines redacted', async () => {
    const secret = lab.connection.devices[0]?.deviceSecret ?? '';
    process.env.OTA_DEVICE_SECRET = secret;
    process.env.BENCH_NOTES = `key is ${secret}`;
    process.env.BENCH_PLAIN = 'kept';
    const env = (name: string) => join(dir, `${name}-env`);
    const ver = join(dir, 'ver');
    const workDir = join(dir, 'work');
    const received = await recordReceived(lab, 'bench-01');
    const config = {
      simulateInstall: false, workDir,
      installCommand: `echo "$OTA_VERSION" > ${ver}`,
      modules: [{
        name: 'default', versionCommand: `cat ${ver} 2>/dev/null || echo 1.0.0`,
        healthCommand: `env > ${env('health')}; echo "no heartbeat, key ${secret}" >&2; exit 1`,
        // The rollback fails (the bench then needs recovery), saying the secret on its way out.
        rollbackCommand: `env > ${env('rollback')}; echo 1.0.0 > ${ver}; echo "relay stuck, key ${secret}" >&2; exit 3`,
        recoverCommand: `env > ${env('recover')}`,
      }],
    };
    agent = await testAgent(lab, 'bench-01', config);
    await versionKnown(lab, 'bench-01');
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    const failed = new Promise<void>((resolve) => agent?.events.once('failed', () => resolve()));
    await taskReaches(lab, 'bench-01', 'FAILED');
    await failed;
    expect(failuresIn(received.progress)).toEqual([{ module: 'default', step: -4, desc: 'self-test failed: no heartbeat, key [redacted]' }]);
    const rec = agent.store.state.upgrades.default;
    expect(rec?.state).toBe('needs-recovery');
    expect(rec?.failure).toContain('rollback command exited 3: relay stuck, key [redacted]');
    await agent.close();
    // The next start runs recoverCommand (the rollback failed).
    agent = await testAgent(lab, 'bench-01', config);
    for (const name of ['health', 'rollback', 'recover']) {
      const text = await readFile(env(name), 'utf8');
      expect(text, name).not.toContain(secret);
      expect(text, name).not.toMatch(/^OTA_DEVICE_SECRET=/m);
      expect(text, name).not.toMatch(/^BENCH_NOTES=/m);
      expect(text, name).toMatch(/^BENCH_PLAIN=kept$/m);
    }
    expect(await readFile(env('recover'), 'utf8')).toMatch(/^OTA_RECOVER_REASON=a rollback failed$/m);
  });
});
