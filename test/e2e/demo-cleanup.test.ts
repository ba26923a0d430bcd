// The demo's temp folder: removed when the demo exits (also after Ctrl-C), kept with --keep; and no
// re-attach hint pointing at the demo's lab, which ends with the demo.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { spawnGroup } from '../helpers/process-group.js';
import { BIN, ROOT, runCliToEnd } from '../helpers/processes.js';

const kept: string[] = [];
afterAll(async () => { for (const d of kept) await rm(d, { recursive: true, force: true }); });

function folderOf(stdout: string): string {
  const m = /files in (\S+)\n/.exec(stdout);
  if (!m) throw new Error(`no "files in" line:\n${stdout}`);
  return m[1] as string;
}

describe('ota-lab demo clean-up', () => {
  it('removes its folder once it has exited, and prints no re-attach hint', async () => {
    const r = await runCliToEnd(BIN.lab, ['demo', '--devices', '1', '--size', '64KiB']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const dir = folderOf(r.stdout);
    expect(existsSync(dir)).toBe(false);
    expect(r.stdout).toContain(`removed ${dir} (--keep keeps it`);
    expect(r.stdout + r.stderr).toMatch(/watching verify job \S+\n/);
    expect(r.stdout + r.stderr).not.toContain('re-attach');
    expect(r.stdout + r.stderr).not.toMatch(/ota-verify watch \S+ --lab/);
  });

  it('with --keep: keeps the folder with the lab state, logs and JUnit report, and says where', async () => {
    const r = await runCliToEnd(BIN.lab, ['demo', '--devices', '1', '--size', '64KiB', '--keep']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const dir = folderOf(r.stdout);
    kept.push(dir);
    expect(r.stdout).toContain(`kept ${dir}`);
    // lab.json leaves with the lab (its file names a lab that is gone); the lab's state stays.
    for (const f of ['lab-state', 'bench-01.log', 'junit.xml']) expect(existsSync(`${dir}/${f}`), f).toBe(true);
  });

  it('removes its folder after Ctrl-C too, without telling the user to re-attach to a lab that is gone', async () => {
    const p = spawnGroup(process.execPath, [BIN.lab, 'demo', '--devices', '2', '--size', '4MiB', '--fail', 'offline'], { cwd: ROOT, env: process.env });
    await p.waitFor(/went offline mid-download/);
    const dir = folderOf(p.out());
    const r = await p.signal('SIGINT');
    expect(await p.gone()).toBe(true);
    expect(r.code, r.out).toBe(130);
    expect(existsSync(dir)).toBe(false);
    expect(r.out).toContain('stopped watching; the lab stops too');
    expect(r.out).not.toContain('Re-attach');
    expect(r.out).not.toMatch(/ota-verify watch \S+ --lab/);
  });
});
