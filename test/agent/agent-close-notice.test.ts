// A notice the agent is still taking in when close() comes starts no upgrade behind the close's back
// (its download would write into the work directory after close() resolved); the accepted upgrade
// stays saved, and the next start resumes it.
import { afterAll, afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, watch } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent } from '../../agent/agent.js';
import { createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';
import { AGENT_LOG, expectNoSecretsIn, testAgent, versionKnown } from '../helpers/agent-fixtures.js';
import { addServedFirmware, labWithFirmwareServer, serveRange } from '../helpers/firmware-server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });
afterAll(() => { expectNoSecretsIn(AGENT_LOG); });

/** Resolves once `file` exists (a watch on its directory, no polling). */
function fileAppears(file: string, dir: string): Promise<void> {
  return new Promise((resolve) => {
    const w = watch(dir, () => { if (existsSync(file)) { w.close(); resolve(); } });
    if (existsSync(file)) { w.close(); resolve(); }
  });
}

describe('agent: a notice overtaken by close()', () => {
  it('starts no upgrade after close(); the next start resumes the saved one', async () => {
    onTestFailed(() => { console.error(AGENT_LOG.slice(-15).join('')); });
    const { lab, server, workDir } = await labWithFirmwareServer(cleanup, 'agent-close-notice-');
    const dir = await mkdtemp(join(tmpdir(), 'agent-close-notice-cmd-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }), () => rm(workDir, { recursive: true, force: true }));
    const content = randomBytes(256 * 1024);
    server.handler = (req, res, seen) => serveRange(content, req, res, seen);
    // The version command answers at once, except for the first run once the test armed it (the
    // notice's "already installed?" check): that one says so and hangs until close() stops it.
    const script = join(dir, 'version.sh');
    const armed = join(dir, 'armed');
    const hanging = join(dir, 'hanging');
    await writeFile(script, `if [ -f ${armed} ]; then rm ${armed}; touch ${hanging}; exec sleep 60; fi\necho 1.0.0\n`, { mode: 0o700 });
    let notStarted: () => void = () => undefined;
    const stoppedBeforeStart = new Promise<void>((resolve) => { notStarted = resolve; });
    const first: Agent = await testAgent(lab, 'bench-01', { workDir, modules: [{ name: 'default', versionCommand: `sh ${script}` }] }, {
      onLog: (line) => { if (line.includes('upgrade not started')) notStarted(); },
    });
    await deviceStatus(lab, 'bench-01');
    await versionKnown(lab, 'bench-01');
    const fw = await addServedFirmware(lab, server, { path: '/fw.bin', size: content.length, content, version: '2.0.0' });
    const hangs = fileAppears(hanging, dir);
    await writeFile(armed, '');
    await createVerifyJob(lab, fw, ['bench-01']);
    await hangs;
    await first.close();
    // Either the close stopped the start (the rule), or a download reaches the server (what it prevents).
    await Promise.race([stoppedBeforeStart, server.requestCount(1)]);
    expect(server.requests).toHaveLength(0);
    expect(first.store.state.upgrades.default).toMatchObject({ version: '2.0.0', state: 'downloading' });

    const second = await testAgent(lab, 'bench-01', { workDir, modules: [{ name: 'default', version: '1.0.0' }] });
    cleanup.push(() => second.close());
    await taskReaches(lab, 'bench-01', 'SUCCEEDED');
    expect(server.requests).toHaveLength(1);
  });
});
