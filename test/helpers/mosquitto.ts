// Debian's mosquitto on a free loopback port, for the external-broker tests. Fails (never skips)
// when mosquitto cannot be started; npm test installs it first (test/setup/global-setup.ts). The
// fleet benchmark runs its thousands of devices over it too (`quiet`: no line per connection).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';

export interface Mosquitto {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function binary(): string {
  for (const p of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto']) if (existsSync(p)) return p;
  return 'mosquitto';
}

export interface MosquittoOptions {
  /** No log line per connection (thousands of fleet devices). */
  quiet?: boolean;
  /** No cap on the messages mosquitto queues or keeps in flight per client. By default it keeps 20
   *  in flight and queues 1,000 per client, then drops QoS 1 messages: the lab's engine, one client
   *  subscribed to every device's uplink, then loses reports when thousands of devices talk at once. */
  unboundedQueues?: boolean;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information',
    // "running", which says it is ready, is an information line; connections are noticed lines.
    ...(options.quiet ? ['connection_messages false'] : []),
    ...(options.unboundedQueues ? ['max_inflight_messages 0', 'max_queued_messages 0'] : []), ''].join('\n'));
  const child: ChildProcess = spawn(binary(), ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`mosquitto could not be started (${err.message}); install it with apt-get install mosquitto`)));
    child.once('exit', (code) => reject(new Error(`mosquitto exited with ${code} before it was ready:\n${log}`)));
    child.stderr?.on('data', (c: Buffer) => {
      log += c.toString();
      if (/running/.test(log)) resolve();
    });
  });
  child.removeAllListeners('exit');
  // Its log was only needed to see it start; past that it is read and dropped, never kept.
  child.stderr?.removeAllListeners('data');
  child.stderr?.resume();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
