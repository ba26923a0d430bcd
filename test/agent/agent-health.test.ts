// The self-test after the version read-back, the rollback, and a bench left needing recovery: what
// the lab (the platform) receives, what the bench commands saw, and what ota-agent status/reset do.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import type { AgentConfigInput } from '../../agent/agent-config.js';
import type { UpgradeRecord } from '../../agent/upgrade-state.js';
import { observeLab } from '../helpers/observe-lab.js';
import { addFirmware, createVerifyJob, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, testAgent } from '../helpers/agent-fixtures.js';
import { fileBench, informed, isAlive, linesOf, recordUplinks, until } from '../helpers/health-fixtures.js';
import { BIN, runCliToEnd } from '../helpers/processes.js';

let lab: Lab;
let dir: string;
const agents: Agent[] = [];

beforeEach(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off' });
  // Logged in before any agent starts, so every version report it sends is observed.
  await observeLab(lab);
  dir = await mkdtemp(join(tmpdir(), 'agent-health-'));
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
  await lab.close();
  await rm(dir, { recursive: true, force: true });
});
afterAll(() => { expectNoSecretsIn(AGENT_LOG); });

type ModuleInput = NonNullable<AgentConfigInput['modules']>[number];

async function bench(module: Partial<ModuleInput>): Promise<{ agent: Agent; ver: string }> {
  const b = await fileBench(dir);
  // The job's source version is what the bench announced: create jobs only after that.
  const announced = informed(lab, 'bench-01', '1.0.0');
  const agent = await testAgent(lab, 'bench-01', {
    workDir: join(dir, 'work'), simulateInstall: false, installCommand: b.installCommand,
    modules: [{ name: 'default', versionCommand: b.versionCommand, ...module }],
  });
  agents.push(agent);
  await announced;
  return { agent, ver: b.ver };
}

async function job(version: string): Promise<void> {
  const { firmwareId } = await addFirmware(lab, { version });
  await createVerifyJob(lab, firmwareId, ['bench-01']);
}

function ended(agent: Agent): Promise<UpgradeRecord> {
  return new Promise((resolve) => agent.events.once('failed', (rec: UpgradeRecord) => resolve(rec)));
}

describe('self-test', () => {
  it('a healthy soak runs every interval, stays below 100, and only then informs the destination version', async () => {
    const runs = join(dir, 'runs.log');
    await bench({ healthCommand: `echo "run $OTA_HEALTH_RUN/$OTA_HEALTH_RUNS $OTA_VERSION" >> ${runs}; echo heartbeat ok`, healthWindowSec: 1.5, healthIntervalSec: 0.5 });
    const uplinks = recordUplinks(lab, 'bench-01');
    await job('2.0.0');
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect(await linesOf(runs)).toEqual(['run 1/3 2.0.0', 'run 2/3 2.0.0', 'run 3/3 2.0.0']);
    const soak = uplinks.flatMap((u, i) => (u.kind === 'progress' && /^self-test \d\/3$/.test(u.desc ?? '') ? [i] : []));
    expect(soak.map((i) => uplinks[i]?.desc)).toEqual(['self-test 1/3', 'self-test 2/3', 'self-test 3/3']);
    for (const i of soak) expect(Number(uplinks[i]?.step)).toBeLessThan(100);
    const informs = uplinks.flatMap((u, i) => (u.kind === 'inform' && u.version === '2.0.0' ? [i] : []));
    expect(informs.length).toBeGreaterThan(0);
    expect(Math.min(...informs)).toBeGreaterThan(Math.max(...soak));
    const hundred = uplinks.findIndex((u) => u.step === '100');
    expect(hundred).toBeGreaterThan(Math.max(...soak));
  });

  it('a failing check reports -4 with its last line, runs the rollback, and informs the previous version', async () => {
    const rb = join(dir, 'rollback.env');
    const { agent, ver } = await bench({
      healthCommand: 'echo "booting"; echo "no heartbeat on /dev/ttyUSB0 after 5 s" >&2; exit 1',
      rollbackCommand: `echo "$OTA_FAILED_STEP $OTA_PREVIOUS_VERSION $OTA_VERSION $OTA_MODULE" > ${rb}; echo "$OTA_PREVIOUS_VERSION" > ${join(dir, 'ver')}`,
    });
    const uplinks = recordUplinks(lab, 'bench-01');
    const back = informed(lab, 'bench-01', '1.0.0');
    const rec = ended(agent);
    await job('2.0.0');
    const task = await taskReaches(lab, 'bench-01', 'FAILED');
    expect(task.taskDesc).toBe('self-test failed: no heartbeat on /dev/ttyUSB0 after 5 s');
    expect(uplinks).toContainEqual({ kind: 'progress', step: '-4', desc: 'self-test failed: no heartbeat on /dev/ttyUSB0 after 5 s' });
    expect((await rec).state).toBe('failed');
    expect((await readFile(rb, 'utf8')).trim()).toBe('self-test 1.0.0 2.0.0 default');
    await back;
    expect((await readFile(ver, 'utf8')).trim()).toBe('1.0.0');
    const failAt = uplinks.findIndex((u) => u.step === '-4');
    expect(uplinks.findIndex((u, i) => i > failAt && u.kind === 'inform' && u.version === '1.0.0')).toBeGreaterThan(failAt);
    expect(uplinks.some((u) => u.kind === 'inform' && u.version === '2.0.0')).toBe(false);
    expect(lab.store.state.devices.find((d) => d.deviceName === 'bench-01')?.moduleVersions.default).toBe('1.0.0');
  });

  it('the failure line is redacted and cut to a platform desc', async () => {
    const { agent } = await bench({
      healthCommand: `echo "upload to http://x.invalid/f?Signature=abcdefgh&a=1 failed: ${'x'.repeat(300)}" >&2; exit 1`,
      rollbackCommand: `echo 1.0.0 > ${join(dir, 'ver')}`,
    });
    const rec = ended(agent);
    await job('2.0.0');
    const task = await taskReaches(lab, 'bench-01', 'FAILED');
    expect(task.taskDesc).toMatch(/^self-test failed: upload to http:\/\/x\.invalid\/f\?Signature=\[redacted\]&a=1 failed: x+$/);
    expect(task.taskDesc.length).toBeLessThanOrEqual(128);
    await rec;
  });

  it('a newer notice waits for a running rollback instead of cutting it short', async () => {
    const log = join(dir, 'install.log');
    const gate = join(dir, 'gate');
    await bench({
      healthCommand: `[ "$OTA_VERSION" = 3.0.0 ] || { echo "no heartbeat" >&2; exit 1; }`,
      rollbackCommand: `echo "rollback start" >> ${log}; while [ ! -f ${gate} ]; do sleep 0.05; done; echo "$OTA_PREVIOUS_VERSION" > ${join(dir, 'ver')}; echo "rollback end" >> ${log}`,
    });
    await job('2.0.0');
    await taskReaches(lab, 'bench-01', 'FAILED');
    await until('the rollback to start', async () => (await linesOf(log)).includes('rollback start'));
    await job('3.0.0');
    // (The log is only the moment to open the gate; what is asserted is the order the bench saw.)
    await until('the notice to wait', () => AGENT_LOG.some((l) => l.includes('notice waits for the running rollback')));
    await writeFile(gate, '');
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect(await linesOf(log)).toEqual(['install', 'rollback start', 'rollback end', 'install']);
  });

  it('a check that runs too long is stopped with its whole process group', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const { agent } = await bench({
      healthCommand: `sleep 300 >/dev/null 2>&1 & echo $! > ${pidFile}; echo "waiting for heartbeat"; wait`, healthTimeoutSec: 0.5,
      rollbackCommand: `echo 1.0.0 > ${join(dir, 'ver')}`,
    });
    const rec = ended(agent);
    await job('2.0.0');
    const task = await taskReaches(lab, 'bench-01', 'FAILED');
    expect(task.taskDesc).toBe('self-test failed: timed out after 0.5 s (waiting for heartbeat)');
    await rec;
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(pid).toBeGreaterThan(0);
    expect(await isAlive(pid)).toBe(false);
  });
});

describe('recovery at start', () => {
  it('a version that cannot be read at start runs recoverCommand before the version is announced', async () => {
    // (The recovery takes a second, longer than the connect: the announce must wait for it.)
    const b = await fileBench(dir);
    await rm(b.ver);
    const announced = informed(lab, 'bench-01', '1.0.0');
    agents.push(await testAgent(lab, 'bench-01', {
      workDir: join(dir, 'work'), simulateInstall: false, installCommand: b.installCommand,
      modules: [{ name: 'default', versionCommand: b.versionCommand, recoverCommand: `sleep 1; echo 1.0.0 > ${b.ver}; echo "$OTA_RECOVER_REASON" >> ${join(dir, 'recover.log')}` }],
    }));
    await announced;
    expect(await linesOf(join(dir, 'recover.log'))).toEqual(['the version is unreadable']);
  }, 20_000);
});

describe('failed rollback', () => {
  it('leaves the bench needing recovery: status says so, the next notice is refused with -1, reset clears it', async () => {
    const healthy = join(dir, 'healthy');
    const { agent } = await bench({
      healthCommand: `[ -f ${healthy} ] || { echo "no heartbeat" >&2; exit 1; }`,
      rollbackCommand: `[ -f ${healthy} ] && exit 0; echo 1.5.0 > ${join(dir, 'ver')}; echo "flash is locked" >&2; exit 1`,
    });
    const uplinks = recordUplinks(lab, 'bench-01');
    const partial = informed(lab, 'bench-01', '1.5.0');
    const rec = ended(agent);
    await job('2.0.0');
    expect((await taskReaches(lab, 'bench-01', 'FAILED')).taskDesc).toBe('self-test failed: no heartbeat');
    expect((await rec).state).toBe('needs-recovery');
    // Whatever version reads back is informed, so the platform shows where the bench really is.
    await partial;

    const work = join(dir, 'work');
    const status = await runCliToEnd(BIN.agent, ['status', '--work-dir', work]);
    expect(status.code, status.stderr).toBe(1);
    expect(status.stdout).toMatch(/module default: NEEDS RECOVERY .*rollback command exited 1: flash is locked/);

    const installs = (await linesOf(join(dir, 'install.log'))).length;
    const refused = new Promise((resolve) => agent.events.once('refused', (_m: string, reason: string) => resolve(reason)));
    await job('3.0.0');
    expect((await taskReaches(lab, 'bench-01', 'FAILED')).taskDesc).toBe('bench needs recovery');
    expect(await refused).toBe('bench needs recovery');
    expect(uplinks).toContainEqual({ kind: 'progress', step: '-1', desc: 'bench needs recovery' });
    expect((await linesOf(join(dir, 'install.log'))).length).toBe(installs);

    // The operator puts the bench right, then clears the state; the running agent takes upgrades again.
    await writeFile(healthy, '');
    const reset = await runCliToEnd(BIN.agent, ['reset', '--work-dir', work, '--module', 'default']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain('reset requested');
    await job('3.0.1');
    const final = await Promise.race([taskReaches(lab, 'bench-01', 'SUCCEEDED'), taskReaches(lab, 'bench-01', 'FAILED')]);
    expect(final.taskDesc).toBe('');
    expect(final.status).toBe('SUCCEEDED');
    const after = await runCliToEnd(BIN.agent, ['status', '--work-dir', work]);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('module default: ready (last upgrade to 3.0.1 done)');
  });
});
