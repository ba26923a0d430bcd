#!/usr/bin/env node
// Entry of `ota-lab`: the only place that reads argv.
import { runLabCli } from './lab-cli.js';

await runLabCli(process.argv.slice(2));
