#!/usr/bin/env node
// Entry of `ota-verify`: the only place that reads argv.
import { runVerifyCli } from './verify-cli.js';

await runVerifyCli(process.argv.slice(2));
