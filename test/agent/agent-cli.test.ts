// `ota-agent` as a bench runs it: a config file, the secret from the environment, `check`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { writeLabConnection } from '../../shared/lab-connection.js';
import { BIN, runCliToEnd, spawnCli } from '../helpers/processes.js';

let lab: Lab;
let dir: string;
beforeAll(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off' });
  dir = await mkdtemp(join(tmpdir(), 'agent-cli-'));
});
afterAll(async () => {
  await lab.close();
  await rm(dir, { recursive: true, force: true });
});

async function labFile(): Promise<string> {
  const file = join(dir, 'lab.json');
  await writeLabConnection(file, lab.connection);
  return file;
}

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    productKey: lab.connection.productKey, deviceName: 'bench-01', mqttUrl: lab.connection.mqttUrl, tls: false,
    modules: [{ name: 'default', versionCommand: 'echo 1.4.2' }], installCommand: '/bin/true', workDir: 'work', ...extra,
  };
}

describe('ota-agent CLI', () => {
  const secret = () => lab.connection.devices[0]?.deviceSecret ?? '';

  it('check: connects with the secret from OTA_DEVICE_SECRET, reports the version, exits 0', async () => {
    await writeFile(join(dir, 'bench.json'), JSON.stringify(config()));
    const r = await runCliToEnd(BIN.agent, ['check', '--config', join(dir, 'bench.json')], { env: { OTA_DEVICE_SECRET: secret() } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('module default reported version 1.4.2');
    expect(r.stdout + r.stderr).not.toContain(secret());
  });

  it('check with OTA_DEVICE_SECRET set does not read deviceSecretFile (a missing one stopped it with exit 2)', async () => {
    await writeFile(join(dir, 'bench-env.json'), JSON.stringify(config({ deviceSecretFile: 'no-such-secret' })));
    const r = await runCliToEnd(BIN.agent, ['check', '--config', join(dir, 'bench-env.json')], { env: { OTA_DEVICE_SECRET: secret() } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('module default reported version 1.4.2');
  });

  it('check with a deviceSecretFile that is missing or a directory: one line in words, what is expected, exit 2', async () => {
    await mkdir(join(dir, 'secret-dir'), { recursive: true });
    for (const [file, why] of [['no-such-secret', 'does not exist'], ['secret-dir', 'is a directory, not a file']] as const) {
      await writeFile(join(dir, 'bench-file.json'), JSON.stringify(config({ deviceSecretFile: file })));
      const r = await runCliToEnd(BIN.agent, ['check', '--config', join(dir, 'bench-file.json')], { env: { OTA_DEVICE_SECRET: '' } });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([
        `ota-agent: deviceSecretFile ${join(dir, file)} ${why}`,
        '  expected: a file holding only the device secret, readable only by the agent (chmod 600); or set OTA_DEVICE_SECRET',
      ]);
    }
  });

  it('check with a wrong secret: one line naming the refusal, exit 3, no retries, no secret', async () => {
    await writeFile(join(dir, 'bench.json'), JSON.stringify(config()));
    const wrong = 'not-the-secret-0123456789';
    const r = await runCliToEnd(BIN.agent, ['check', '--config', join(dir, 'bench.json')], { env: { OTA_DEVICE_SECRET: wrong } });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `ota-agent: the broker at ${lab.connection.mqttUrl} refused ${lab.connection.productKey}/bench-01: bad username or password (MQTT code 4); check the device secret (OTA_DEVICE_SECRET or deviceSecretFile), productKey, deviceName and signMethod`,
    ]);
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  it('run with a wrong secret stops after three refusals with exit 3 instead of retrying forever', async () => {
    await writeFile(join(dir, 'run.json'), JSON.stringify(config({ reconnectBaseMs: 10, reconnectMaxMs: 20, workDir: 'run-work' })));
    const wrong = 'not-the-secret-0123456789';
    const r = await runCliToEnd(BIN.agent, ['run', '--config', join(dir, 'run.json')], { env: { OTA_DEVICE_SECRET: wrong } });
    expect(r.code).toBe(3);
    const lines = r.stderr.trim().split('\n');
    expect(lines.at(-1)).toBe(`ota-agent: the broker at ${lab.connection.mqttUrl} refused ${lab.connection.productKey}/bench-01: bad username or password (MQTT code 4); check the device secret (OTA_DEVICE_SECRET or deviceSecretFile), productKey, deviceName and signMethod`);
    // Two logged refusals before the third stops it: the broker saw three logins, not a retry storm.
    expect(lines.filter((l) => l.includes('broker refused the login'))).toHaveLength(2);
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  it.each([
    ['a misspelt field', { instalCommand: '/bin/true' }, 'unknown field instalCommand (did you mean installCommand?)', /^only these fields: productKey, deviceName, .*installCommand.*, deviceSecretFile$/],
    ['a misspelt module field', { modules: [{ versionComand: 'echo 1' }] }, 'unknown field versionComand in "modules.0" (did you mean versionCommand?)', /^only these fields: name, version, versionCommand, healthCommand, healthTimeoutSec, healthWindowSec, healthIntervalSec, rollbackCommand, rollbackTimeoutSec, recoverCommand$/],
    ['a number out of range', { keepaliveSec: 5 }, 'field "keepaliveSec" is too small', /^a number >= 30$/],
    ['a wrong type', { tls: 'yes' }, 'field "tls" has the wrong type', /^a boolean$/],
    ['a value not among the choices', { logLevel: 'loud' }, 'field "logLevel" is not one of the choices', /^one of "trace", "debug", "info", "warn", "error", "silent"$/],
    ['an inline deviceSecret', { deviceSecret: 'inline-secret-4242' }, 'field deviceSecret is not read from a config file', /^the secret in OTA_DEVICE_SECRET, or in a file named by deviceSecretFile \(readable only by the agent: chmod 600\)$/],
  ])('config with %s: the fix in one line, what is expected in the next, exit 2', async (_what, extra, problem, expected) => {
    const file = join(dir, 'typo.json');
    const c = config(extra);
    if ('instalCommand' in extra) delete c.installCommand;
    await writeFile(file, JSON.stringify(c));
    const r = await runCliToEnd(BIN.agent, ['check', '--config', file], { env: { OTA_DEVICE_SECRET: secret() } });
    expect(r.code).toBe(2);
    const [first, second, ...rest] = r.stderr.trim().split('\n');
    expect(first).toBe(`ota-agent: ${file}: ${problem}`);
    expect(second?.replace(/^ {2}expected: /, '')).toMatch(expected);
    expect(rest).toEqual([]);
    expect(r.stderr).not.toContain('inline-secret-4242');
    expect(r.stderr).not.toContain(secret());
  });

  it.each([
    [['--log-format', 'pretty'], /^\d\d:\d\d:\d\d\.\d{3} INFO {2}connected url=mqtt:\/\/127\.0\.0\.1:\d+$/m],
    [[], /^\{"level":30,"time":\d+,"name":"ota-agent","url":"mqtt:\/\/127\.0\.0\.1:\d+","msg":"connected"\}$/m],
  ])('run %j: logs as one human line with --log-format pretty, JSON lines without a terminal', async (flags, line) => {
    const p = spawnCli(BIN.agent, ['run', '--lab', await labFile(), '--device', 'bench-01', '--work-dir', join(dir, 'fmt-work'), ...flags], { env: { OTA_DEVICE_SECRET: '' } });
    try {
      await p.waitFor(/connected/);
    } finally {
      expect(await p.stop('SIGTERM')).toBe(0);
    }
    expect(p.stderr()).toMatch(line);
    expect(p.stderr()).not.toContain(secret());
  });

  it('refuses a config that is wrong, naming the field, with exit 2 and no secret', async () => {
    await writeFile(join(dir, 'bad.json'), JSON.stringify(config({ keepaliveSec: 5 })));
    const r = await runCliToEnd(BIN.agent, ['check', '--config', join(dir, 'bad.json')], { env: { OTA_DEVICE_SECRET: secret() } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"keepaliveSec"');
    expect(r.stderr).not.toContain(secret());
    const noSecret = await runCliToEnd(BIN.agent, ['check', '--config', join(dir, 'bench.json')], { env: { OTA_DEVICE_SECRET: '' } });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain('deviceSecret');
    await writeFile(join(dir, 'notjson.json'), '{ nope');
    expect((await runCliToEnd(BIN.agent, ['run', '--config', join(dir, 'notjson.json')])).stderr).toContain('not JSON');
    expect((await runCliToEnd(BIN.agent, ['run'])).code).toBe(2);
    expect((await runCliToEnd(BIN.agent, ['run', '--lab', 'x.json'])).stderr).toContain('--device');
  });
});
