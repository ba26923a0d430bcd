// `npm run bench [-- --quick]`: every benchmark, one markdown table, bench/results.json.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { DIST, type BenchRow } from './bench-support.js';
import { labApiBench, labConnectionsBench } from './lab-bench.js';
import { labMqttCapBench } from './lab-mqtt-cap-bench.js';
import { labUnsignedBench } from './lab-abuse-bench.js';
import { agentPipelineBench } from './agent-bench.js';
import { agentSoakBench } from './agent-soak-bench.js';
import { verifyBudgetBench } from './verify-budget-bench.js';
import { fleetBench } from './fleet-bench.js';
import { startupBench } from './startup-bench.js';
import { verifyE2eBench } from './verify-e2e-bench.js';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);

const suites: Record<string, (quick: boolean) => Promise<BenchRow[]>> = {
  'lab-api': labApiBench,
  'lab-connections': labConnectionsBench,
  'lab-mqtt-cap': labMqttCapBench,
  'lab-unsigned': labUnsignedBench,
  'agent-pipeline': agentPipelineBench,
  'agent-soak': agentSoakBench,
  'verify-e2e': verifyE2eBench,
  'verify-budget': verifyBudgetBench,
  fleet: fleetBench,
  'start-up': startupBench,
};

const out = join(DIST, '..', 'bench', 'results.json');
type Row = BenchRow & { key: string };
const rows: Row[] = [];
// A misspelt suite would run nothing and rewrite the table as it was: refuse it, naming the suites.
const unknown = only?.split(',').filter((n) => !(n in suites)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`--only: no suite named ${unknown.join(', ')}; the suites are ${Object.keys(suites).join(', ')}\n`);
  process.exit(2);
}
// With --only, the other suites' rows of the last run are kept.
if (only) {
  try {
    const prev = JSON.parse(await readFile(out, 'utf8')) as { rows: Row[] };
    rows.push(...prev.rows.filter((r) => r.key && !only.split(',').includes(r.key)));
  } catch { /* no earlier results */ }
}
for (const [name, run] of Object.entries(suites)) {
  if (only && !only.split(',').includes(name)) continue;
  process.stderr.write(`running ${name}…`);
  const startedMs = Date.now();
  try {
    rows.push(...(await run(quick)).map((r) => ({ ...r, key: name })));
    process.stderr.write(` ${((Date.now() - startedMs) / 1000).toFixed(1)} s\n`);
  } catch (err) {
    process.stderr.write(' failed\n');
    // A missed target is a figure; a suite that could not run is an error.
    process.exitCode = 1;
    rows.push({ key: name, suite: name, metric: 'failed to run', value: NaN, unit: '', note: (err as Error).message, met: false });
  }
}
rows.sort((a, b) => Object.keys(suites).indexOf(a.key) - Object.keys(suites).indexOf(b.key));

// A `|` in a cell (curl|tee|openssl) would end it.
const cell = (text: string) => text.replace(/\|/g, '\\|');
const table = [
  '| suite | metric | value | target | met | note |',
  '| --- | --- | ---: | --- | --- | --- |',
  ...rows.map((r) => `| ${cell(r.suite)} | ${cell(r.metric)} | ${Number.isNaN(r.value) ? '—' : r.value} ${r.unit} | ${cell(r.target ?? '')} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} | ${cell(r.note ?? '')} |`),
].join('\n');
process.stdout.write(`${table}\n`);
await writeFile(out, `${JSON.stringify({ when: new Date().toISOString(), quick, node: process.version, cpus: cpus().length, rows }, null, 2)}\n`);
process.stderr.write(`wrote ${out}\n`);
