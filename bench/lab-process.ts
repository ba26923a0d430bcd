// A lab in its own process for benchmarks: options as JSON in argv[2], prints its connection as one
// JSON line, stops on SIGTERM. Its memory is then the lab's alone.
import { startLab } from '../lab/start-lab.js';
import type { LabOptionsInput } from '../lab/lab-options.js';

const options = JSON.parse(process.argv[2] ?? '{}') as LabOptionsInput;
const lab = await startLab(options);
process.stdout.write(`${JSON.stringify(lab.connection)}\n`);
process.on('SIGTERM', () => { void lab.close().then(() => process.exit(0)); });
