// Start a server on host:port (0 for any free port) and answer the port it got.
import type { AddressInfo, Server } from 'node:net';
import { OtaError } from './errors.js';

export async function listenOn(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return (server.address() as AddressInfo).port;
}

/** `listenOn`, with a refusal that names the server and the port in the user's words (a taken or
 *  privileged port), so a start-up fails at once with a reason instead of a bare `EADDRINUSE`. */
export async function listenNamed(server: Server, host: string, port: number, what: string, flag: string): Promise<number> {
  try {
    return await listenOn(server, host, port);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is already in use by another program'
      : code === 'EACCES' ? 'ports below 1024 need root (or CAP_NET_BIND_SERVICE)'
        : code === 'EADDRNOTAVAIL' ? 'that address is not on this machine' : (cause as Error).message;
    throw new OtaError('LISTEN_FAILED', `the ${what} cannot listen on ${host}:${port}: ${why}`, {
      expected: `a free port for ${flag} (0 picks one)`, cause, details: { port, code },
    });
  }
}
