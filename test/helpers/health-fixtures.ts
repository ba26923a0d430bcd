// What the lab received from a bench, in order (progress steps with their desc, informs), for the
// self-test and rollback suites; and a bench whose version lives in a file, as a real one's would.
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseDeviceTopic } from '../../shared/topics.js';
import type { Lab } from '../../lab/start-lab.js';
import { observeLab } from './observe-lab.js';

export interface Uplink { kind: 'progress' | 'inform'; step?: string; desc?: string; version?: string }

/** Every progress and inform message the lab's engine took from `deviceName`, in arrival order. */
export function recordUplinks(lab: Lab, deviceName: string): Uplink[] {
  const seen: Uplink[] = [];
  const engine = lab.engine;
  const original = engine.handleUplink.bind(engine);
  engine.handleUplink = (topic: string, payload: Buffer) => {
    const t = parseDeviceTopic(topic);
    if (t?.deviceName === deviceName && (t.kind === 'progress' || t.kind === 'inform')) {
      try {
        const p = (JSON.parse(payload.toString()) as { params: { step?: string; desc?: string; version?: string } }).params;
        seen.push(t.kind === 'progress' ? { kind: 'progress', step: p.step, desc: p.desc } : { kind: 'inform', version: p.version });
      } catch { /* the engine reports garbage itself */ }
    }
    original(topic, payload);
  };
  return seen;
}

/** Resolves when the lab has taken an inform of `version` from the device. */
export async function informed(lab: Lab, deviceName: string, version: string): Promise<void> {
  const obs = await observeLab(lab);
  await obs.next((m) => m.kind === 'version' && m.deviceName === deviceName && m.body.moduleVersion === version);
}

/** A bench whose firmware version is the file `ver`: install writes it, the version command reads it. */
export async function fileBench(dir: string, version = '1.0.0'): Promise<{ ver: string; versionCommand: string; installCommand: string }> {
  const ver = join(dir, 'ver');
  await writeFile(ver, `${version}\n`);
  return { ver, versionCommand: `cat ${ver}`, installCommand: `echo install >> ${join(dir, 'install.log')}; echo "$OTA_VERSION" > ${ver}` };
}

export async function linesOf(file: string): Promise<string[]> {
  if (!existsSync(file)) return [];
  return (await readFile(file, 'utf8')).split('\n').filter(Boolean);
}

/** Waits for a condition on files a bench command writes (no event exists for those), checking every 25 ms. */
export async function until(what: string, cond: () => Promise<boolean> | boolean, maxMs = 60_000): Promise<void> {
  const end = Date.now() + maxMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A process is gone when signal 0 fails or it is a zombie nobody reaped yet. */
export async function isAlive(pid: number): Promise<boolean> {
  try { process.kill(pid, 0); } catch { return false; }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) Z/.test(stat);
}
