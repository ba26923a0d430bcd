#!/usr/bin/env node
// Entry of `ota-agent`: the only place that reads argv.
import { runAgentCli } from './agent-cli.js';

await runAgentCli(process.argv.slice(2));
