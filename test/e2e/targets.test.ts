// README commands beyond --lab: a TLS lab started from the CLI with an agent trusting its CA, and
// ota-verify addressed by --endpoint/--region with credentials from the environment or a profile.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLabConnection } from '../../shared/lab-connection.js';
import { BIN, runCliToEnd, spawnCli, type Spawned } from '../helpers/processes.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

async function lab(args: string[]): Promise<{ dir: string; proc: Spawned }> {
  const dir = await mkdtemp(join(tmpdir(), 'targets-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const proc = spawnCli(BIN.lab, ['start', '--devices', '1', '--log-level', 'warn', ...args], { cwd: dir });
  cleanup.push(() => proc.stop('SIGINT'));
  await proc.waitFor(/Press Ctrl-C/);
  return { dir, proc };
}

describe('README targets', () => {
  it('ota-lab start --tls: an agent connects over TLS trusting the lab CA', async () => {
    const { dir, proc } = await lab(['--tls']);
    const conn = await readLabConnection(join(dir, 'lab.json'));
    expect(conn.mqttUrl).toMatch(/^mqtts:/);
    expect(proc.stdout()).toContain(`CA          ${conn.caFile ?? ''}`);
    const r = await runCliToEnd(BIN.agent, ['check', '--lab', 'lab.json', '--device', 'bench-01'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`connected to ${conn.mqttUrl}`);
  });

  it('ota-verify --endpoint/--region with env credentials, or with --profile from ~/.aliyun/config.json', async () => {
    const { dir } = await lab([]);
    const conn = await readLabConnection(join(dir, 'lab.json'));
    const base = ['firmware', 'fw-nope', '--endpoint', conn.apiEndpoint, '--region', conn.regionId];
    const env = await runCliToEnd(BIN.verify, base, { env: { ALIBABA_CLOUD_ACCESS_KEY_ID: conn.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: conn.accessKeySecret } });
    // Reaching the platform with good credentials: the firmware lookup itself is what is refused.
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('firmware fw-nope does not exist');
    const home = join(dir, 'home');
    await mkdir(join(home, '.aliyun'), { recursive: true });
    await writeFile(join(home, '.aliyun', 'config.json'), JSON.stringify({ current: 'lab', profiles: [{ name: 'lab', mode: 'AK', access_key_id: conn.accessKeyId, access_key_secret: conn.accessKeySecret, region_id: conn.regionId }] }));
    const prof = await runCliToEnd(BIN.verify, ['firmware', 'fw-nope', '--endpoint', conn.apiEndpoint, '--profile', 'lab'], { env: { HOME: home, ALIBABA_CLOUD_ACCESS_KEY_ID: '', ALIBABA_CLOUD_ACCESS_KEY_SECRET: '' } });
    expect(prof.code, prof.stderr).toBe(2);
    expect(prof.stderr).toContain('does not exist');
    const missing = await runCliToEnd(BIN.verify, ['firmware', 'x', '--region', 'cn-shanghai', '--profile', 'nobody'], { env: { HOME: home } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('"nobody"');
  });
});
