// What the README's "Exit codes" says about Ctrl-C: run directly (the `npm link`ed command),
// `ota-verify watch` exits 4 when interrupted; run through `npx`, npm's `sh -c` wrapper re-raises the
// interrupt, so the shell sees a death by SIGINT (130) although ota-verify did its part. If npm ever
// changes that, this test fails and the README must change with it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkIntoPrefix, type LinkedPrefix } from '../helpers/npm-link.js';
import { spawnGroup } from '../helpers/process-group.js';
import { BIN, runCliToEnd, spawnCli, type Spawned } from '../helpers/processes.js';

let linked: LinkedPrefix;
let dir = '';
let lab: Spawned;
let jobId = '';

beforeAll(async () => {
  linked = await linkIntoPrefix();
  dir = await mkdtemp(join(tmpdir(), 'npx-signals-'));
  lab = spawnCli(BIN.lab, ['start', '--devices', '1', '--log-level', 'warn'], { cwd: dir });
  await lab.waitFor(/Press Ctrl-C/);
  await writeFile(join(dir, 'fw.bin'), Buffer.alloc(1024, 7));
  const fw = await runCliToEnd(BIN.lab, ['firmware', 'add', 'fw.bin', '--version', '2.0.0'], { cwd: dir });
  expect(fw.code, fw.stderr).toBe(0);
  // No agent runs: the job stays QUEUED, so watching it never ends on its own.
  const job = await runCliToEnd(BIN.verify, ['verify', '--lab', 'lab.json', '--firmware-id', fw.stdout.trim(), '--devices', 'bench-01', '--no-wait'], { cwd: dir });
  expect(job.code, job.stderr).toBe(0);
  jobId = job.stdout.trim();
});

afterAll(async () => {
  await lab?.stop('SIGINT');
  if (dir) await rm(dir, { recursive: true, force: true });
  await linked?.remove();
});

async function ctrlC(cmd: string, args: string[]) {
  const p = spawnGroup(cmd, args, { cwd: dir, env: linked.env() });
  await p.waitFor(/bench-01\s+QUEUED/);
  const r = await p.signal('SIGINT');
  expect(await p.gone()).toBe(true);
  return r;
}

describe('Ctrl-C on ota-verify watch', () => {
  it('run directly (the linked command): exit 4, the job goes on', async () => {
    const r = await ctrlC('ota-verify', ['watch', jobId, '--lab', 'lab.json']);
    expect(r.signal, r.out).toBe(null);
    expect(r.code, r.out).toBe(4);
    expect(r.out).toContain(`stopped watching; the job goes on. Re-attach with: ota-verify watch ${jobId} --lab lab.json`);
  });

  it('through npx: ota-verify stops the same way, but npm and its sh report the interrupt (130 at a shell)', async () => {
    const r = await ctrlC('npx', ['ota-verify', 'watch', jobId, '--lab', 'lab.json']);
    expect(r.out).toContain('stopped watching; the job goes on.');
    expect(r.signal, r.out).toBe('SIGINT');
  });

  it('through npx, an ordinary exit code passes through unchanged', async () => {
    const p = spawnGroup('npx', ['ota-verify', 'status', 'no-such-job', '--lab', 'lab.json'], { cwd: dir, env: linked.env() });
    const r = await p.exited;
    expect(r.code, r.out).toBe(2);
  });
});
