// Debian's nginx serving one directory over loopback with sendfile: a file server whose own cost does
// not compete with what is measured (the lab's Node file server takes about 1.6 s of a core per GiB).
// It runs as a child of the bench, in the foreground, with every path it writes inside a temp dir, so
// it needs no root and leaves nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/helpers/mosquitto.js';

export const NGINX = '/usr/sbin/nginx';

export interface NginxServer {
  /** http://127.0.0.1:PORT/ (files of the served directory below it). */
  baseUrl: string;
  stop(): Promise<void>;
}

function config(prefix: string, root: string, port: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30s;
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`;
}

/** Waits until nginx answers on the port, or says why it exited. */
async function ready(child: ChildProcess, baseUrl: string, prefix: string): Promise<void> {
  const exited = new Promise<never>((_, reject) => child.once('exit', (code, sig) => {
    void readFile(join(prefix, 'error.log'), 'utf8').catch(() => '').then((log) => reject(new Error(`nginx exited (${code ?? sig}): ${log.trim().split('\n').pop() ?? ''}`)));
  }));
  exited.catch(() => undefined);
  for (let i = 0; i < 100; i++) {
    const up = await Promise.race([fetch(baseUrl, { method: 'HEAD' }).then(() => true, () => false), exited]);
    if (up) return;
    await Promise.race([new Promise((r) => setTimeout(r, 50)), exited]);
  }
  throw new Error('nginx did not answer within 5 s');
}

/** Sends `signal` to nginx unless it has already exited, and waits for its exit. */
async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await gone;
}

export async function startNginx(root: string): Promise<NginxServer> {
  const prefix = await mkdtemp(join(tmpdir(), 'bench-nginx-'));
  let lastErr: unknown;
  // The port is picked free (nobody holds it now), but another process may take it before nginx binds
  // it: try another.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const conf = join(prefix, 'nginx.conf');
    await writeFile(conf, config(prefix, root, port));
    await Promise.all(['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((d) => mkdir(join(prefix, d), { recursive: true })));
    // -e: the error log before the config is read (the default path needs root); -p: the prefix.
    const child = spawn(NGINX, ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
    const baseUrl = `http://127.0.0.1:${port}/`;
    try {
      await ready(child, baseUrl, prefix);
    } catch (err) {
      lastErr = err;
      await signalAndWait(child, 'SIGKILL');
      continue;
    }
    return {
      baseUrl,
      async stop() {
        await signalAndWait(child, 'SIGQUIT');
        await rm(prefix, { recursive: true, force: true });
      },
    };
  }
  await rm(prefix, { recursive: true, force: true });
  throw new Error(`nginx would not start: ${String(lastErr)}`);
}
