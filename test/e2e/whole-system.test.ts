// Every program as its own process, as on a lab bench: over Debian's mosquitto, and across a lab
// restart with --state-dir in the middle of a job.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLabConnection } from '../../shared/lab-connection.js';
import { BIN, runCliToEnd, spawnCli, type Spawned } from '../helpers/processes.js';
import { startMosquitto } from '../helpers/mosquitto.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

async function workspace(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'e2e-'));
  cleanup.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

function started(p: Spawned): Spawned {
  cleanup.push(() => p.stop('SIGTERM'));
  return p;
}

async function benches(dir: string, names: string[]): Promise<Spawned[]> {
  return Promise.all(names.map(async (n) => {
    const a = started(spawnCli(BIN.agent, ['run', '--lab', join(dir, 'lab.json'), '--device', n, '--work-dir', join(dir, n)], { cwd: dir }));
    await a.waitFor(/"msg":"connected"/);
    return a;
  }));
}

describe('whole system', () => {
  it('verifies a firmware over an external mosquitto broker', async () => {
    const dir = await workspace();
    const broker = await startMosquitto();
    cleanup.push(() => broker.stop());
    const lab = started(spawnCli(BIN.lab, ['start', '--devices', '2', '--broker', broker.url, '--log-level', 'warn'], { cwd: dir }));
    await lab.waitFor(/Press Ctrl-C/);
    expect((await readLabConnection(join(dir, 'lab.json'))).mqttUrl).toBe(broker.url);
    await writeFile(join(dir, 'fw.bin'), Buffer.alloc(2 * 1024 * 1024, 7));
    const fw = (await runCliToEnd(BIN.lab, ['firmware', 'add', 'fw.bin', '--version', '2.0.0'], { cwd: dir })).stdout.trim();
    await benches(dir, ['bench-01', 'bench-02']);
    const r = await runCliToEnd(BIN.verify, ['verify', '--lab', 'lab.json', '--firmware-id', fw, '--devices', 'bench-01,bench-02', '--poll-min-ms', '300'], { cwd: dir });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('is verified');
  });

  it('finishes the job when the lab restarts with --state-dir mid-job', async () => {
    const dir = await workspace();
    const first = started(spawnCli(BIN.lab, ['start', '--devices', '1', '--state-dir', 'state', '--log-level', 'warn'], { cwd: dir }));
    await first.waitFor(/Press Ctrl-C/);
    const conn = await readLabConnection(join(dir, 'lab.json'));
    const port = (u: string) => new URL(u.replace(/^mqtt/, 'http')).port;
    await writeFile(join(dir, 'fw.bin'), Buffer.alloc(8 * 1024 * 1024, 3));
    const fw = (await runCliToEnd(BIN.lab, ['firmware', 'add', 'fw.bin', '--version', '2.0.0'], { cwd: dir })).stdout.trim();
    // A slow download keeps the job in progress while the lab goes away.
    expect((await runCliToEnd(BIN.lab, ['fault', fw, '--bytes-per-sec', String(2 * 1024 * 1024)], { cwd: dir })).code).toBe(0);
    const [agent] = await benches(dir, ['bench-01']);
    const verify = started(spawnCli(BIN.verify, ['verify', '--lab', 'lab.json', '--firmware-id', fw, '--devices', 'bench-01', '--poll-min-ms', '300', '--json'], { cwd: dir }));
    await agent?.waitFor(/"state":"downloading"|upgrade accepted/);
    expect(await first.stop('SIGINT')).toBe(0);
    started(spawnCli(BIN.lab, ['start', '--devices', '1', '--state-dir', 'state', '--log-level', 'warn', '--api-port', port(conn.apiEndpoint), '--mqtt-port', port(conn.mqttUrl), '--file-port', port(conn.fileServer)], { cwd: dir }));
    expect(await verify.exited, verify.stdout() + verify.stderr()).toBe(0);
    expect(JSON.parse(verify.stdout())).toMatchObject({ verdict: 'verified' });
  });
});
