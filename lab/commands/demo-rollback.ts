// The demo's --fail health / --fail rollback ending: wait until the failing bench's agent has put its
// previous firmware back (or given up), then show what the platform and the bench say about it.
import { spawn, type ChildProcess } from 'node:child_process';
import type { ApiCall } from '../../shared/openapi-client.js';

/** Resolves when the agent's log says the rollback ended either way, or after `maxMs` (never hangs). */
export function rollbackSettled(agent: ChildProcess, maxMs = 30_000): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const done = () => { clearTimeout(timer); agent.stderr?.off('data', onData); resolve(); };
    const onData = (c: Buffer) => {
      seen = (seen + c.toString()).slice(-4096);
      if (/rolled back|rollback failed|upgrade done/.test(seen)) done();
    };
    const timer = setTimeout(done, maxMs);
    agent.stderr?.on('data', onData);
    agent.once('close', done);
  });
}

/** What the lab's QueryDeviceDetail says the bench runs, and, for a failed rollback, `ota-agent status`. */
export async function showBenchAfterRollback(o: { call: ApiCall; productKey: string; bench: string; agentCli: string; statusArgs: string[]; say: (s: string) => void }): Promise<void> {
  const detail = await o.call('QueryDeviceDetail', { ProductKey: o.productKey, DeviceName: o.bench });
  const version = (detail.Data as { FirmwareVersion?: string } | undefined)?.FirmwareVersion ?? '';
  o.say(`${o.bench}: QueryDeviceDetail FirmwareVersion = ${version || '(none)'}`);
  o.say(`$ ota-agent ${o.statusArgs.join(' ')}`);
  const status = spawn(process.execPath, [o.agentCli, ...o.statusArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  status.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  await new Promise((resolve) => status.on('close', resolve));
  o.say(out.trimEnd());
}
