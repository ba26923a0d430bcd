// Start a server on host:port (0 for any free port) and answer the port it got.
import type { AddressInfo, Server } from 'node:net';

export async function listenOn(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return (server.address() as AddressInfo).port;
}
