// Code comments and the READMEs cite the repository's own docs, never files outside it, and every
// `docs/platform.md … § Section` citation names a section that exists.
import { describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const CODE_DIRS = ['shared', 'agent', 'orchestrator', 'lab', 'bench', 'test'];
const SELF = join(ROOT, 'test', 'docs', 'citations.test.ts');
const DOCS = ['README.md', 'bench/README.md', 'docs/design.md', 'docs/platform.md'];

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...await filesUnder(p));
    else if (/\.(ts|md)$/.test(e.name)) out.push(p);
  }
  return out;
}

async function projectFiles(): Promise<string[]> {
  const code = (await Promise.all(CODE_DIRS.map((d) => filesUnder(join(ROOT, d))))).flat();
  return [...code, ...DOCS.map((d) => join(ROOT, d))];
}

async function platformSections(): Promise<string[]> {
  const text = await readFile(join(ROOT, 'docs', 'platform.md'), 'utf8');
  return [...text.matchAll(/^## (.+)$/gm)].map((m) => m[1] as string).sort((a, b) => b.length - a.length);
}

describe('docs citations', () => {
  it('nothing points at files outside the repository (PROTOCOL.md, DESIGN.md, ../shared/*.md)', async () => {
    const offenders: string[] = [];
    for (const file of await projectFiles()) {
      if (file === SELF) continue;
      const lines = (await readFile(file, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (/PROTOCOL\.md|DESIGN\.md|\.\.\/shared\/[A-Z]/.test(line)) offenders.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('every "docs/platform.md … § Section" names a section of docs/platform.md', async () => {
    const sections = await platformSections();
    expect(sections).toContain('Device connection');
    const broken: string[] = [];
    let cited = 0;
    for (const file of await projectFiles()) {
      if (file === SELF) continue;
      const lines = (await readFile(file, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (!/platform\.md/.test(line)) return;
        for (const m of line.matchAll(/§ /g)) {
          cited += 1;
          const rest = line.slice((m.index ?? 0) + 2);
          if (!sections.some((s) => rest.startsWith(s) && !/[\w-]/.test(rest.charAt(s.length)))) broken.push(`${relative(ROOT, file)}:${i + 1}: § ${rest.slice(0, 40)}`);
        }
      });
    }
    expect(broken).toEqual([]);
    // The code does cite the reference (about 25 places); a sweep that removed them all would be a regression too.
    expect(cited).toBeGreaterThan(20);
  });
});
