// Start-up (issue 6): `ota-verify --help` and `ota-agent --help` against `node -e 0`, interleaved
// round by round so that the machine's noise hits every side alike. Ratios of medians.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DIST, median, spread, type BenchRow } from './bench-support.js';

function timeProcess(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`node ${args.join(' ')} exited ${code}`));
      else resolve(Number(process.hrtime.bigint() - t) / 1e6);
    });
  });
}

export async function startupBench(quick: boolean): Promise<BenchRow[]> {
  const rounds = quick ? 3 : 21;
  const sides = {
    node: ['-e', '0'],
    'ota-verify': [join(DIST, 'orchestrator', 'cli.js'), '--help'],
    'ota-agent': [join(DIST, 'agent', 'cli.js'), '--help'],
  };
  const times: Record<keyof typeof sides, number[]> = { node: [], 'ota-verify': [], 'ota-agent': [] };
  // One warm-up of each: the first run pays for the disk cache.
  for (const args of Object.values(sides)) await timeProcess(args);
  for (let i = 0; i < rounds; i++) {
    for (const [name, args] of Object.entries(sides) as [keyof typeof sides, string[]][]) times[name].push(await timeProcess(args));
  }
  const base = median(times.node);
  return (['ota-verify', 'ota-agent'] as const).map((name) => {
    const ratio = median(times[name]) / base;
    return {
      suite: 'start-up', metric: `\`${name} --help\` vs \`node -e 0\``, value: Number(ratio.toFixed(2)), unit: '×', target: '< 3', met: ratio < 3,
      note: `${median(times[name]).toFixed(0)} ms (${spread(times[name], 0)}) vs ${base.toFixed(0)} ms (${spread(times.node, 0)}), ${rounds} rounds`,
    };
  });
}
