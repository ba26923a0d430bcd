// Reads a V8 .cpuprofile (node --cpu-prof) and prints self time summed by function and by file, the
// top N of each: `node dist/bench/cpuprofile-summary.js FILE.cpuprofile [N]`. The fleet bench's
// `--fleet-lab-cpu-prof=DIR` writes one for the lab process.
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** A file's name as a reader wants it: the package under node_modules, the path under dist, or node's own module. */
export function shortFile(url: string): string {
  if (!url) return '(native / V8)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

export interface SelfTimes {
  totalMs: number;
  byFunction: [string, number][];
  byFile: [string, number][];
}

export function selfTimes(profile: CpuProfile): SelfTimes {
  const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let totalMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = nodeById.get(id);
    if (!node) return;
    totalMs += ms;
    const file = shortFile(node.callFrame.url);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${file}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
    byFile.set(file, (byFile.get(file) ?? 0) + ms);
  });
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMs, byFunction: top(byFunction), byFile: top(byFile) };
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: cpuprofile-summary FILE.cpuprofile [N]');
  const n = Number(process.argv[3] ?? 25);
  const t = selfTimes(JSON.parse(await readFile(file, 'utf8')) as CpuProfile);
  const pct = (ms: number) => `${((ms * 100) / t.totalMs).toFixed(1).padStart(5)} %`;
  const line = ([name, ms]: [string, number]) => `${(ms / 1000).toFixed(2).padStart(8)} s ${pct(ms)}  ${name}`;
  process.stdout.write(`sampled ${(t.totalMs / 1000).toFixed(1)} s\n\nself time by function (top ${n}):\n`);
  process.stdout.write(`${t.byFunction.slice(0, n).map(line).join('\n')}\n\nself time by file (top ${n}):\n`);
  process.stdout.write(`${t.byFile.slice(0, n).map(line).join('\n')}\n`);
}

await main();
