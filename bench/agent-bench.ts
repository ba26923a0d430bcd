// Agent pipeline (issue 3): download + SHA-256 + write of a large firmware over loopback from the
// lab's file server, by the agent's own code, side by side with `curl | tee | openssl dgst` and with
// `openssl dgst` of the local file (the hashing limit). Several rounds; medians and spreads.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLab } from '../lab/start-lab.js';
import { DIST, median, spread, type BenchRow, writeRandom } from './bench-support.js';

const run = promisify(execFile);

async function agentOnce(url: string, size: number, part: string): Promise<{ sec: number; digest: string; maxRssMiB: number }> {
  const child = spawn(process.execPath, [join(DIST, 'bench', 'agent-pipeline-process.js'), url, String(size), part], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  await new Promise((r) => child.on('close', r));
  return JSON.parse(out) as { sec: number; digest: string; maxRssMiB: number };
}

async function timed(cmd: string): Promise<{ sec: number; out: string }> {
  const t = process.hrtime.bigint();
  const { stdout } = await run('/bin/sh', ['-c', cmd], { maxBuffer: 1 << 20 });
  return { sec: Number(process.hrtime.bigint() - t) / 1e9, out: stdout };
}

export async function agentPipelineBench(quick: boolean): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-agent-'));
  const lab = await startLab({ deviceCount: 1, throttle: 'off' });
  const rows: BenchRow[] = [];
  try {
    const sizes = quick ? [128 * 1024 * 1024] : [256 * 1024 * 1024, 1024 * 1024 * 1024];
    for (const size of sizes) {
      const src = join(dir, 'fw.bin');
      await writeRandom(src, size);
      const { createReadStream } = await import('node:fs');
      const stored = await lab.putFirmwareFile('fw.bin', createReadStream(src));
      const url = lab.files.signedUrl(stored.url, 3600);
      const rounds = quick ? 2 : 3;
      const agent: number[] = [];
      const curl: number[] = [];
      const hashLimit: number[] = [];
      let rss = 0;
      for (let i = 0; i < rounds; i++) {
        const a = await agentOnce(url, size, join(dir, 'agent.part'));
        if (a.digest !== stored.sha256) throw new Error('agent digest differs from the file');
        agent.push(a.sec);
        rss = Math.max(rss, a.maxRssMiB);
        const c = await timed(`curl -s '${url}' | tee '${join(dir, 'curl.out')}' | openssl dgst -sha256`);
        if (!c.out.includes(stored.sha256)) throw new Error('curl pipeline digest differs');
        curl.push(c.sec);
        await rm(join(dir, 'curl.out'), { force: true });
        hashLimit.push((await timed(`openssl dgst -sha256 '${src}'`)).sec);
      }
      const mib = size / 1024 / 1024;
      const ratioCurl = median(agent) / median(curl);
      const ratioHash = median(agent) / median(hashLimit);
      rows.push(
        { suite: 'agent', metric: `download+sha256+write ${mib} MiB: agent vs curl|tee|openssl`, value: Number(ratioCurl.toFixed(2)), unit: '× curl time', target: '<= 1.0', met: ratioCurl <= 1, note: `agent ${median(agent).toFixed(2)} s (${spread(agent)}), curl ${median(curl).toFixed(2)} s (${spread(curl)})` },
        { suite: 'agent', metric: `download+sha256+write ${mib} MiB: agent vs openssl dgst of the file`, value: Number(ratioHash.toFixed(2)), unit: '× hashing limit', target: '<= 2.0', met: ratioHash <= 2, note: `openssl ${median(hashLimit).toFixed(2)} s (${spread(hashLimit)})` },
        { suite: 'agent', metric: `agent peak RSS, ${mib} MiB firmware`, value: Math.round(rss), unit: 'MiB', target: '< 100', met: rss < 100 },
      );
      await rm(src, { force: true });
    }
  } finally {
    await lab.close();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}
