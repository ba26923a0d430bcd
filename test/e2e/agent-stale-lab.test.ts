// `ota-agent run --lab lab.json` with a lab.json whose lab has stopped: refused at once (exit 3, the
// same line the other CLIs print) instead of retrying for ever in silence; and an agent whose lab
// dies under it keeps retrying but says once, in one line, that the lab that wrote the file stopped.
// Real CLI processes: the lab, the agent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { readLabConnection, writeLabConnection, type LabConnection } from '../../shared/lab-connection.js';
import { BIN, runCliToEnd, spawnCli, type Spawned } from '../helpers/processes.js';

let dir: string;
let stale: LabConnection;
let running: Lab;
const spawned: Spawned[] = [];

/** A pid that ran and has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('close', r));
  return child.pid as number;
}

const exists = (p: string) => access(p).then(() => true, () => false);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-stale-'));
  const gone = await startLab({ deviceCount: 1, throttle: 'off' });
  const conn = gone.connection;
  await gone.close();
  stale = { ...conn, pid: await deadPid() };
  await writeLabConnection(join(dir, 'stale.json'), stale);
  running = await startLab({ deviceCount: 1, throttle: 'off' });
  // A running lab's address under a dead pid: what a bench on another machine (a copied file) sees.
  await writeLabConnection(join(dir, 'copied.json'), { ...running.connection, pid: stale.pid });
});
afterAll(async () => {
  await Promise.all(spawned.map((p) => p.stop('SIGKILL')));
  await running.close();
  await rm(dir, { recursive: true, force: true });
});

function expectStaleRefusal(r: { code: number | null; stdout: string; stderr: string }): void {
  expect(r.code, r.stderr).toBe(3);
  expect(r.stderr.trim().split('\n')).toEqual([`ota-agent: cannot reach the lab of stale.json: the lab that wrote it (pid ${String(stale.pid)}) has stopped: start one with ota-lab start`]);
  for (const secret of [stale.accessKeySecret, stale.adminToken, stale.devices[0]?.deviceSecret ?? '?']) expect(r.stdout + r.stderr).not.toContain(secret);
}

describe('ota-agent on a lab.json whose lab has stopped', () => {
  it('run: exit 3 before it starts, with the line the other CLIs print, no secret, no work dir made', async () => {
    const r = await runCliToEnd(BIN.agent, ['run', '--lab', 'stale.json', '--device', 'bench-01', '--work-dir', 'w-run'], { cwd: dir });
    expectStaleRefusal(r);
    expect(await exists(join(dir, 'w-run'))).toBe(false);
  });

  it('check: the same refusal, at once (not after its 20 s connect wait)', async () => {
    expectStaleRefusal(await runCliToEnd(BIN.agent, ['check', '--lab', 'stale.json', '--device', 'bench-01', '--work-dir', 'w-check'], { cwd: dir }));
  });

  it('a dead pid whose address still answers (a file copied to another machine) is not refused', async () => {
    const agent = spawnCli(BIN.agent, ['run', '--lab', 'copied.json', '--device', 'bench-01', '--work-dir', 'w-copied', '--log-format', 'json'], { cwd: dir });
    spawned.push(agent);
    await agent.waitFor(/"msg":"connected"/);
    expect(await agent.stop()).toBe(0);
  });
});

describe('an agent whose lab dies under it', () => {
  /** Start `ota-lab start` on `file` and an agent on it; resolve once the agent is connected. */
  async function labAndAgent(file: string, work: string): Promise<{ lab: Spawned; agent: Spawned; pid: number }> {
    const lab = spawnCli(BIN.lab, ['start', '--devices', '1', '--throttle', 'off', '--connection-file', file, '--log-level', 'warn'], { cwd: dir });
    spawned.push(lab);
    await lab.waitFor(/Press Ctrl-C to stop/);
    const pid = (await readLabConnection(join(dir, file))).pid as number;
    const agent = spawnCli(BIN.agent, ['run', '--lab', file, '--device', 'bench-01', '--work-dir', work, '--log-format', 'json'], { cwd: dir });
    spawned.push(agent);
    await agent.waitFor(/"msg":"connected"/);
    return { lab, agent, pid };
  }
  const warnings = (agent: Spawned, re: RegExp) => agent.stderr().split('\n').filter((l) => re.test(l));

  it('killed (its file left behind): one warning line naming the file and the pid, and it keeps retrying', async () => {
    const { lab, agent, pid } = await labAndAgent('killed.json', 'w-killed');
    await lab.stop('SIGKILL');
    // Reconnect failures 2, 3 and 4: the warning comes with the second, and only once.
    await agent.waitFor(/"attempt":4,/);
    const said = warnings(agent, /has stopped/);
    expect(said).toHaveLength(1);
    const line = JSON.parse(said[0] as string) as { level: number; msg: string };
    expect(line.level).toBe(40);
    expect(line.msg).toContain(`the lab that wrote killed.json (pid ${pid}) has stopped: start one with ota-lab start (still retrying mqtt://127.0.0.1:`);
    expect(agent.child.exitCode).toBeNull();
    expect(await agent.stop()).toBe(0);
  });

  it('stopped cleanly (its file removed): one line saying so, and what to do after a new start', async () => {
    const { lab, agent, pid } = await labAndAgent('clean.json', 'w-clean');
    expect(await lab.stop('SIGINT')).toBe(0);
    await agent.waitFor(/"attempt":3,/);
    const said = warnings(agent, /has stopped/);
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`the lab that wrote clean.json (pid ${pid}) has stopped and its file is gone`);
    expect(agent.child.exitCode).toBeNull();
    expect(await agent.stop()).toBe(0);
  });

  it('killed, then another lab started on the same file (new ports, new secrets): one more line saying to restart', async () => {
    const { lab, agent, pid } = await labAndAgent('taken.json', 'w-taken');
    await lab.stop('SIGKILL');
    await agent.waitFor(/has stopped: start one with ota-lab start/);
    const next = spawnCli(BIN.lab, ['start', '--devices', '1', '--throttle', 'off', '--connection-file', 'taken.json', '--log-level', 'warn'], { cwd: dir });
    spawned.push(next);
    await next.waitFor(/Press Ctrl-C to stop/);
    const now = await readLabConnection(join(dir, 'taken.json'));
    await agent.waitFor(/another lab/);
    expect(warnings(agent, /another lab/)).toHaveLength(1);
    expect(warnings(agent, /another lab/)[0]).toContain(`the lab that wrote taken.json (pid ${pid}) has stopped and another lab (pid ${String(now.pid)}) now owns the file at another address or with other device secrets: restart ota-agent to use it`);
    expect(agent.stderr()).not.toContain(now.devices[0]?.deviceSecret ?? '?');
    expect(await agent.stop()).toBe(0);
    expect(await next.stop('SIGINT')).toBe(0);
  });

  it('killed, then restarted with the same --state-dir and --mqtt-port: the agent reconnects by itself, no "restart" line', async () => {
    const first = spawnCli(BIN.lab, ['start', '--devices', '1', '--throttle', 'off', '--connection-file', 'same.json', '--state-dir', 'same-state', '--log-level', 'warn'], { cwd: dir });
    spawned.push(first);
    await first.waitFor(/Press Ctrl-C to stop/);
    // The port the first lab was given (port 0): the restarted lab asks for the same one.
    const port = new URL((await readLabConnection(join(dir, 'same.json'))).mqttUrl).port;
    const agent = spawnCli(BIN.agent, ['run', '--lab', 'same.json', '--device', 'bench-01', '--work-dir', 'w-same', '--log-format', 'json'], { cwd: dir });
    spawned.push(agent);
    await agent.waitFor(/"msg":"connected"/);
    await first.stop('SIGKILL');
    await agent.waitFor(/has stopped: start one with ota-lab start/);
    const again = spawnCli(BIN.lab, ['start', '--devices', '1', '--throttle', 'off', '--connection-file', 'same.json', '--state-dir', 'same-state', '--mqtt-port', port, '--log-level', 'warn'], { cwd: dir });
    spawned.push(again);
    await again.waitFor(/Press Ctrl-C to stop/);
    await agent.waitFor(/"msg":"connected"[\s\S]*"msg":"connected"/);
    expect(warnings(agent, /has stopped/)).toHaveLength(1);
    expect(warnings(agent, /another lab|restart ota-agent to use it/)).toEqual([]);
    expect(await agent.stop()).toBe(0);
    expect(await again.stop('SIGINT')).toBe(0);
  });
});
