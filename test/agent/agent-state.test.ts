// The agent's state file as found on disk: wrong shapes and corrupt bytes are discarded with a warn
// naming the file (what is valid is kept), the file is 0600, and a resume at `installing` checks the
// files again before the hook runs.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { addFirmware, createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, informReceived, stepReached, testAgent } from '../helpers/agent-fixtures.js';
import { recordSteps } from '../helpers/firmware-server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  expectNoSecretsIn(AGENT_LOG);
});

async function setUp(stateText: string | undefined): Promise<{ lab: Lab; dir: string; workDir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'agent-state-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const workDir = join(dir, 'work');
  await mkdir(workDir);
  const file = join(workDir, 'agent-state.json');
  if (stateText !== undefined) {
    await writeFile(file, stateText);
    await chmod(file, 0o644);
  }
  const lab = await startLab({ deviceCount: 1, throttle: 'off' });
  cleanup.push(() => lab.close());
  return { lab, dir, workDir, file };
}

/** The first version the lab hears the device inform for `module`. */
function informed(lab: Lab, module = 'default'): Promise<string> {
  return informReceived(lab, 'bench-01', module);
}

describe('agent state on disk', () => {
  it.each([
    { what: 'versions null and a record with only "state"', text: '{"version":1,"versions":null,"upgrades":{"default":{"state":"downloading"}}}', version: '1.0.0', dropped: ['versions', 'upgrades.default'] },
    { what: 'one bad version among good ones', text: '{"version":1,"versions":{"default":"1.5.0","MCU":7},"upgrades":{}}', version: '1.5.0', dropped: ['versions.MCU'] },
    { what: 'a file cut mid-write', text: '{"version":1,"versions":{"default":"1.5', version: '1.0.0', dropped: undefined },
    { what: 'a 17 MiB file', text: `{"version":1,"versions":{"default":"1.5.0"},"pad":"${'x'.repeat(17 * 1024 * 1024)}"}`, version: '1.0.0', dropped: undefined },
  ])('starts from $what: keeps what is valid, warns naming the file, and upgrades', async ({ text, version, dropped }) => {
    const { lab, workDir, file } = await setUp(text);
    const heard = informed(lab);
    const logFrom = AGENT_LOG.length;
    const agent = await testAgent(lab, 'bench-01', { workDir });
    cleanup.push(() => agent.close());
    expect(await heard).toBe(version);
    const warn = AGENT_LOG.slice(logFrom).find((l) => l.includes('"level":40') && l.includes(`"file":${JSON.stringify(file)}`));
    expect(warn).toBeDefined();
    if (dropped) expect(JSON.parse(warn as string)).toMatchObject({ dropped });
    const done = new Promise((resolve) => agent.events.once('done', resolve));
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    await done;
    // What a reader finds now: a well-formed state, readable by the agent's user only.
    const saved = JSON.parse(await readFile(file, 'utf8')) as { versions: Record<string, unknown> };
    expect(saved.versions).toEqual({ default: '2.0.0' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  }, 60_000);

  it('-3: an upgrade resumed at "installing" checks the file again and never runs the hook on changed bytes', async () => {
    const { lab, dir, workDir, file } = await setUp(undefined);
    const steps = await recordSteps(lab, 'bench-01');
    const runs = join(dir, 'hook-runs');
    // The first run says 50 % (so the test knows it runs), then waits to be stopped; a second run would install.
    const hook = { simulateInstall: false, installCommand: `if [ -f ${runs} ]; then echo again >> ${runs}; exit 0; fi; echo run >> ${runs}; echo progress 50; sleep 30`, installTimeoutSec: 60, workDir };
    const first = await testAgent(lab, 'bench-01', hook);
    await deviceStatus(lab, 'bench-01');
    const installing = stepReached(lab, 'bench-01', 90);
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    await installing;
    await first.close();
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { upgrades: Record<string, { state: string; files: { partPath: string }[] }> };
    expect(saved.upgrades.default?.state).toBe('installing');
    // The verified file is changed on disk while the agent is down.
    const part = saved.upgrades.default?.files[0]?.partPath as string;
    const h = await open(part, 'r+');
    await h.write(Buffer.from([0x00, 0xff, 0x00]), 0, 3, 10);
    await h.close();
    const second = await testAgent(lab, 'bench-01', hook);
    cleanup.push(() => second.close());
    const task = await Promise.race([taskReaches(lab, 'bench-01', 'FAILED'), taskReaches(lab, 'bench-01', 'SUCCEEDED')]);
    expect(task).toMatchObject({ status: 'FAILED' });
    expect(task.taskDesc).toMatch(/^digest mismatch/);
    expect(steps.at(-1)?.step).toBe(-3);
    expect(readFileSync(runs, 'utf8')).toBe('run\n');
  }, 60_000);
});
