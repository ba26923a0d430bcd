// A power cut (SIGKILL of the real agent process) during the self-test soak and during the rollback:
// after a restart the soak starts again from its first run and the rollback runs again.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { observeLab } from '../helpers/observe-lab.js';
import { addFirmware, createVerifyJob, taskReaches } from '../helpers/lab-fixtures.js';
import { fileBench, informed, linesOf, recordUplinks, until, type Uplink } from '../helpers/health-fixtures.js';
import { BIN, spawnCli, type Spawned } from '../helpers/processes.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

interface Setup { lab: Lab; dir: string; start: () => Spawned; state: () => Promise<string> }

async function setup(module: (dir: string) => Record<string, unknown>): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'agent-health-restart-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const lab = await startLab({ deviceCount: 1, throttle: 'off' });
  // Logged in before any agent starts, so every version report it sends is observed.
  await observeLab(lab);
  cleanup.push(() => lab.close());
  const b = await fileBench(dir);
  const config = {
    productKey: lab.connection.productKey, deviceName: 'bench-01', mqttUrl: lab.connection.mqttUrl, tls: false,
    allowInsecureHttp: true, installCommand: b.installCommand, workDir: join(dir, 'work'), progressMinIntervalMs: 0,
    reconnectBaseMs: 100, reconnectMaxMs: 500, modules: [{ name: 'default', versionCommand: b.versionCommand, ...module(dir) }],
  };
  await writeFile(join(dir, 'bench.json'), JSON.stringify(config));
  const secret = lab.connection.devices[0]?.deviceSecret ?? '';
  const start = () => {
    const p = spawnCli(BIN.agent, ['run', '--config', join(dir, 'bench.json'), '--log-level', 'info'], { env: { OTA_DEVICE_SECRET: secret } });
    cleanup.push(() => p.stop('SIGKILL'));
    return p;
  };
  const state = async () => (JSON.parse(await readFile(join(dir, 'work', 'agent-state.json'), 'utf8')) as { upgrades: Record<string, { state: string }> }).upgrades.default?.state ?? '';
  return { lab, dir, start, state };
}

/** Start the agent, and once it announced its version, a verify job to 2.0.0. */
async function startWithJob(s: Setup): Promise<{ uplinks: Uplink[]; first: Spawned }> {
  const uplinks = recordUplinks(s.lab, 'bench-01');
  const announced = informed(s.lab, 'bench-01', '1.0.0');
  const first = s.start();
  await announced;
  const { firmwareId } = await addFirmware(s.lab, { version: '2.0.0' });
  await createVerifyJob(s.lab, firmwareId, ['bench-01']);
  return { uplinks, first };
}

/** The bench command blocked on the gate file ran as its own process group: stop it as the power cut would. */
async function killGroupOf(pidFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
}

const gated = (dir: string, name: string, then: string) =>
  `echo $$ > ${join(dir, `${name}.pid`)}; echo "start $OTA_HEALTH_RUN" >> ${join(dir, `${name}.log`)}; while [ ! -f ${join(dir, 'gate')} ]; do sleep 0.05; done; ${then}`;

describe('agent restart during self-test and rollback', () => {
  it('SIGKILL during the soak: after a restart the soak starts again from its first run, and only then the version is informed', async () => {
    const s = await setup((dir) => ({ healthCommand: gated(dir, 'health', 'echo heartbeat ok'), healthWindowSec: 1, healthIntervalSec: 0.5 }));
    const { uplinks, first } = await startWithJob(s);
    await until('the first self-test run', async () => (await linesOf(join(s.dir, 'health.log'))).length === 1);
    await first.stop('SIGKILL');
    await killGroupOf(join(s.dir, 'health.pid'));
    expect(await s.state()).toBe('self-testing');
    expect(uplinks.some((u) => u.kind === 'inform' && u.version === '2.0.0')).toBe(false);

    await writeFile(join(s.dir, 'gate'), '');
    const second = s.start();
    await taskReaches(s.lab, 'bench-01', 'SUCCEEDED');
    expect(await linesOf(join(s.dir, 'health.log'))).toEqual(['start 1', 'start 1', 'start 2']);
    // Resumed at the soak: the firmware was installed once.
    expect(await linesOf(join(s.dir, 'install.log'))).toEqual(['install']);
    await second.stop();
    expect(await s.state()).toBe('done');
  });

  it('SIGKILL during the rollback: after a restart recoverCommand runs, the rollback runs again and the previous version is informed', async () => {
    const s = await setup((dir) => ({
      healthCommand: 'echo "no heartbeat" >&2; exit 1',
      rollbackCommand: gated(dir, 'rollback', `echo "$OTA_PREVIOUS_VERSION" > ${join(dir, 'ver')}`),
      recoverCommand: `echo "$OTA_RECOVER_REASON" >> ${join(dir, 'recover.log')}`,
    }));
    const { uplinks, first } = await startWithJob(s);
    expect((await taskReaches(s.lab, 'bench-01', 'FAILED')).taskDesc).toBe('self-test failed: no heartbeat');
    await until('the first rollback run', async () => (await linesOf(join(s.dir, 'rollback.log'))).length === 1);
    await first.stop('SIGKILL');
    await killGroupOf(join(s.dir, 'rollback.pid'));
    expect(await s.state()).toBe('rolling-back');
    expect(existsSync(join(s.dir, 'recover.log'))).toBe(false);

    await writeFile(join(s.dir, 'gate'), '');
    const back = informed(s.lab, 'bench-01', '1.0.0');
    const second = s.start();
    await back;
    await second.waitFor(/rolled back/);
    // The state is written just after that log line.
    await until('the state to be written', async () => (await s.state()) !== 'rolling-back');
    expect(await s.state()).toBe('failed');
    expect(await linesOf(join(s.dir, 'rollback.log'))).toHaveLength(2);
    expect(await linesOf(join(s.dir, 'recover.log'))).toEqual(['a rollback was cut short']);
    // The destination version never reached the platform, not even in the announce after the restart.
    expect(uplinks.some((u) => u.kind === 'inform' && u.version === '2.0.0')).toBe(false);
    expect(s.lab.store.state.devices.find((d) => d.deviceName === 'bench-01')?.moduleVersions.default).toBe('1.0.0');
  });
});
