// The README's walkthrough, run as a user runs it: its command lines exactly as written, in the
// scratch directory its first line makes, through `npx` with the package linked (`npm link` into a
// throwaway prefix, so the machine's global npm is untouched). Long-running lines (`ota-lab start`,
// the agents with `&`) run in process groups of their own and are stopped as the README says:
// SIGTERM for the agents (`kill %1 %2`), Ctrl-C (SIGINT) for the lab.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkIntoPrefix, type LinkedPrefix } from '../helpers/npm-link.js';
import { spawnGroup, type GroupProcess, type Ran } from '../helpers/process-group.js';
import { ROOT } from '../helpers/processes.js';

/** The walkthrough's shell lines, in order: the README must still say exactly this. */
const EXPECTED = [
  'cd "$(mktemp -d)" && pwd',
  'npx ota-lab start --devices 2',
  'head -c 4194304 /dev/urandom > fw-2.0.0.bin',
  'FW=$(npx ota-lab firmware add fw-2.0.0.bin --version 2.0.0)',
  'echo "$FW"',
  'npx ota-agent run --lab lab.json --device bench-01 2> bench-01.log &',
  'npx ota-agent run --lab lab.json --device bench-02 2> bench-02.log &',
  'npx ota-verify verify --lab lab.json --firmware-id "$FW" --devices bench-01,bench-02',
  'head -c 4194304 /dev/urandom > fw-3.0.0.bin',
  'FW3=$(npx ota-lab firmware add fw-3.0.0.bin --version 3.0.0)',
  'npx ota-lab fault "$FW3" --flip-byte-at 1000',
  'npx ota-verify verify --lab lab.json --firmware-id "$FW3" --devices bench-01,bench-02',
  'grep \'"upgrade failed"\' bench-01.log',
];

function walkthroughLines(readme: string): string[] {
  const start = readme.indexOf('<!-- walkthrough:start');
  const end = readme.indexOf('<!-- walkthrough:end -->');
  if (start < 0 || end < start) throw new Error('README.md has no walkthrough markers');
  const blocks = [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  return blocks.flatMap((b) => b.split('\n')).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

let linked: LinkedPrefix | undefined;
let scratch = '';
const held: GroupProcess[] = [];
const vars: Record<string, string> = {};
/** Every line run and what it printed, kept in the scratch directory when the walkthrough fails. */
const transcript: string[] = [];
let failed = false;
let labProcess: GroupProcess | undefined;

function env(): NodeJS.ProcessEnv {
  if (!linked) throw new Error('npm link has not run');
  return linked.env(vars);
}

/** One README line in bash, as typed at a prompt. `NAME=$(…)` lines also keep NAME for later lines. */
async function sh(line: string): Promise<Ran> {
  const assign = /^([A-Z0-9_]+)=\$\(/.exec(line);
  const script = assign ? `${line}\nstatus=$?\nprintf '\\n@@%s@@\\n' "$${assign[1]}"\nexit $status` : line;
  const r = await spawnGroup('bash', ['-c', script], { cwd: scratch || ROOT, env: env() }).exited;
  transcript.push(`$ ${line}\n[exit ${r.code ?? r.signal}]\n${r.out}`);
  const value = /@@(.*)@@/.exec(r.out);
  if (assign && r.code === 0 && value) vars[assign[1] as string] = value[1] as string;
  return r;
}

describe('README walkthrough', () => {
  let lines: string[] = [];

  beforeAll(async () => {
    lines = walkthroughLines(await readFile(join(ROOT, 'README.md'), 'utf8'));
    linked = await linkIntoPrefix();
  });

  afterAll(async () => {
    for (const h of held.splice(0)) await h.signal('SIGKILL');
    if (scratch && failed) {
      // A failure seen once must be diggable: the bench logs, lab.json and the lab's output stay.
      await writeFile(join(scratch, 'lab.out'), labProcess?.out() ?? '');
      await writeFile(join(scratch, 'transcript.txt'), transcript.join('\n'));
      console.error(`README walkthrough failed: bench logs, lab output and transcript kept in ${scratch}`);
    } else if (scratch) {
      await rm(scratch, { recursive: true, force: true });
    }
    await linked?.remove();
  });

  it('says exactly the commands this test runs', () => {
    expect(lines).toEqual(EXPECTED);
  });

  it('runs as written: verified, then a corrupted download fails with step -3 in the bench log', async () => {
    onTestFailed(() => { failed = true; });
    const [mk, labStart, mkFw, addFw, echoFw, agent1, agent2, verifyOk, mkFw3, addFw3, fault, verifyBad, grepLog] = lines as [string, ...string[]];

    const made = await sh(mk);
    expect(made.code, made.out).toBe(0);
    scratch = made.out.trim();
    expect(scratch.startsWith(tmpdir())).toBe(true);

    const lab = spawnGroup('bash', ['-c', labStart as string], { cwd: scratch, env: env() });
    labProcess = lab;
    held.push(lab);
    await lab.waitFor(/Press Ctrl-C/);

    expect((await sh(mkFw as string)).code).toBe(0);
    const added = await sh(addFw as string);
    expect(added.code, added.out).toBe(0);
    expect(vars.FW).toMatch(/^fw\w+$/);
    expect((await sh(echoFw as string)).out.trim()).toBe(vars.FW);

    const agents = [agent1, agent2].map((l) => spawnGroup('bash', ['-c', (l as string).replace(/\s*&$/, '')], { cwd: scratch, env: env() }));
    held.push(...agents);

    const ok = await sh(verifyOk as string);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain('is verified');

    expect((await sh(mkFw3 as string)).code).toBe(0);
    expect((await sh(addFw3 as string)).code).toBe(0);
    expect(vars.FW3).toMatch(/^fw\w+$/);
    expect(vars.FW3).not.toBe(vars.FW);
    const faulted = await sh(fault as string);
    expect(faulted.code, faulted.out).toBe(0);

    const bad = await sh(verifyBad as string);
    expect(bad.code, bad.out).toBe(1);
    expect(bad.out).toMatch(/FAILED bench-01: digest mismatch/);

    const log = await sh(grepLog as string);
    expect(log.code, log.out).toBe(0);
    expect(log.out).toContain('"step":-3');

    // `kill %1 %2`: SIGTERM to each agent's process group; every process of it ends (no orphaned agent).
    for (const a of agents) {
      await a.signal('SIGTERM');
      expect(await a.gone()).toBe(true);
    }
    expect(await readFile(join(scratch, 'bench-01.log'), 'utf8')).not.toContain('"level":50');
    // Ctrl-C in terminal 1: the lab stops and nothing of it is left.
    await lab.signal('SIGINT');
    expect(await lab.gone()).toBe(true);
    held.splice(0);
  });
});
