// `npm run bench [-- --quick]`: every benchmark, one markdown table, bench/results.json.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { DIST, type BenchRow } from './bench-support.js';
import { labApiBench, labConnectionsBench } from './lab-bench.js';
import { agentPipelineBench } from './agent-bench.js';
import { verifyBudgetBench } from './verify-budget-bench.js';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);

const suites: Record<string, (quick: boolean) => Promise<BenchRow[]>> = {
  'lab-api': labApiBench,
  'lab-connections': labConnectionsBench,
  'agent-pipeline': agentPipelineBench,
  'verify-budget': verifyBudgetBench,
};

const rows: BenchRow[] = [];
for (const [name, run] of Object.entries(suites)) {
  if (only && !only.split(',').includes(name)) continue;
  process.stderr.write(`running ${name}…\n`);
  try {
    rows.push(...(await run(quick)));
  } catch (err) {
    rows.push({ suite: name, metric: 'failed to run', value: NaN, unit: '', note: (err as Error).message, met: false });
  }
}

const table = [
  '| suite | metric | value | target | met | note |',
  '| --- | --- | ---: | --- | --- | --- |',
  ...rows.map((r) => `| ${r.suite} | ${r.metric} | ${Number.isNaN(r.value) ? '—' : r.value} ${r.unit} | ${r.target ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} | ${r.note ?? ''} |`),
].join('\n');
process.stdout.write(`${table}\n`);
const out = join(DIST, '..', 'bench', 'results.json');
await writeFile(out, `${JSON.stringify({ when: new Date().toISOString(), quick, node: process.version, cpus: cpus().length, rows }, null, 2)}\n`);
process.stderr.write(`wrote ${out}\n`);
