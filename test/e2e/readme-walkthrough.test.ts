// The README's walkthrough, run as a user runs it: its command lines exactly as written, in the
// scratch directory its first line makes, through `npx` with the package linked (`npm link` into a
// throwaway prefix, so the machine's global npm is untouched). Long-running lines (`ota-lab start`,
// the agents with `&`) run in process groups of their own and are stopped as the README says:
// SIGTERM for the agents (`kill %1 %2`), Ctrl-C (SIGINT) for the lab.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

interface Ran { code: number | null; signal: NodeJS.Signals | null; out: string }
interface Held { child: ChildProcess; out(): string; waitFor(re: RegExp): Promise<void>; exited: Promise<Ran> }

let prefix = '';
let scratch = '';
const held: Held[] = [];
const vars: Record<string, string> = {};

function env(): NodeJS.ProcessEnv {
  // npx finds the linked package through the global prefix; offline, so a miss is an error, never a registry download.
  return { ...process.env, ...vars, PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`, npm_config_prefix: prefix, npm_config_offline: 'true', npm_config_update_notifier: 'false' };
}

function start(cmd: string, args: string[], cwd: string, e: NodeJS.ProcessEnv): Held {
  const child = spawn(cmd, args, { cwd, env: e, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const onData = (c: Buffer) => {
    out += c.toString();
    for (const w of [...waiters]) if (w.re.test(out)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<Ran>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out })));
  return {
    child,
    out: () => out,
    exited,
    waitFor: (re) => (re.test(out) ? Promise.resolve() : new Promise((resolve, reject) => {
      waiters.push({ re, resolve });
      void exited.then((r) => reject(new Error(`exited (${r.code ?? r.signal}) before ${re}:\n${out}`)));
    })),
  };
}

/** One README line in bash, as typed at a prompt. `NAME=$(…)` lines also keep NAME for later lines. */
async function sh(line: string): Promise<Ran> {
  const assign = /^([A-Z0-9_]+)=\$\(/.exec(line);
  const script = assign ? `${line}\nstatus=$?\nprintf '%s' "$${assign[1]}"\nexit $status` : line;
  const r = await start('bash', ['-c', script], scratch || ROOT, env()).exited;
  if (assign && r.code === 0) vars[assign[1] as string] = r.out.split('\n').filter((l) => !l.startsWith('registered ')).join('').trim();
  return r;
}

function stopGroup(h: Held, signal: NodeJS.Signals): Promise<Ran> {
  try { process.kill(-(h.child.pid as number), signal); } catch { /* already gone */ }
  return h.exited;
}

/** Resolves when no process of the group is left (npm, sh and the program itself all gone). */
async function groupGone(h: Held): Promise<boolean> {
  for (let i = 0; i < 400; i += 1) {
    try { process.kill(-(h.child.pid as number), 0); } catch { return true; }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('README walkthrough', () => {
  let lines: string[] = [];

  beforeAll(async () => {
    lines = walkthroughLines(await readFile(join(ROOT, 'README.md'), 'utf8'));
    prefix = await mkdtemp(join(tmpdir(), 'walkthrough-npm-'));
    const link = await start('npm', ['link', '--no-audit', '--no-fund'], ROOT, env()).exited;
    expect(link.code, link.out).toBe(0);
  });

  afterAll(async () => {
    for (const h of held.splice(0)) await stopGroup(h, 'SIGKILL');
    if (scratch) await rm(scratch, { recursive: true, force: true });
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it('says exactly the commands this test runs', () => {
    expect(lines).toEqual(EXPECTED);
  });

  it('runs as written: verified, then a corrupted download fails with step -3 in the bench log', async () => {
    const [mk, labStart, mkFw, addFw, echoFw, agent1, agent2, verifyOk, mkFw3, addFw3, fault, verifyBad, grepLog] = lines as [string, ...string[]];

    const made = await sh(mk);
    expect(made.code, made.out).toBe(0);
    scratch = made.out.trim();
    expect(scratch.startsWith(tmpdir())).toBe(true);

    const lab = start('bash', ['-c', labStart as string], scratch, env());
    held.push(lab);
    await lab.waitFor(/Press Ctrl-C/);

    expect((await sh(mkFw as string)).code).toBe(0);
    const added = await sh(addFw as string);
    expect(added.code, added.out).toBe(0);
    expect(vars.FW).toMatch(/^fw\w+$/);
    expect((await sh(echoFw as string)).out.trim()).toBe(vars.FW);

    const agents = [agent1, agent2].map((l) => start('bash', ['-c', (l as string).replace(/\s*&$/, '')], scratch, env()));
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
    expect(bad.out).toMatch(/FAILED bench-01: FAILED - digest mismatch/);

    const log = await sh(grepLog as string);
    expect(log.code, log.out).toBe(0);
    expect(log.out).toContain('"step":-3');

    // `kill %1 %2`: SIGTERM to each agent's process group; every process of it ends (no orphaned agent).
    for (const a of agents) {
      await stopGroup(a, 'SIGTERM');
      expect(await groupGone(a)).toBe(true);
    }
    expect(await readFile(join(scratch, 'bench-01.log'), 'utf8')).not.toContain('"level":50');
    // Ctrl-C in terminal 1: the lab stops and nothing of it is left.
    await stopGroup(lab, 'SIGINT');
    expect(await groupGone(lab)).toBe(true);
    held.splice(0);
  });
});
