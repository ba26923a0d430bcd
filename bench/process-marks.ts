// Preloaded (`node --import`) into a CLI the end-to-end bench times: one JSON line on stderr when Node
// has booted and is about to load the program, and one as the process exits, so the bench can tell
// Node's start, the program's own start-up and the wait for the event loop to empty apart.
process.stderr.write(`${JSON.stringify({ mark: 'node ready', time: Date.now() })}\n`);
process.once('exit', () => { process.stderr.write(`${JSON.stringify({ mark: 'exit', time: Date.now() })}\n`); });
export {};
