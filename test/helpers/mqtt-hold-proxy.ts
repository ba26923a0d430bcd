// A plain-TCP MQTT proxy in front of a broker that can hold back one kind of packet on its way to the
// client (e.g. the SUBACK) while everything else passes, so a test can make an order happen that is
// otherwise a race: a notice delivered at connect, before the client's subscription is acknowledged.
// It frames MQTT packets itself (fixed header + remaining length); the client → broker side is piped.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** MQTT control packet types (the fixed header's high nibble). */
export const PACKET = { publish: 3, suback: 9 } as const;

export interface HoldProxy {
  url: string;
  /** Packet types forwarded to the client, in the order the client got them. */
  readonly toClient: number[];
  /** Forward the held packets now, and hold no more. */
  release(): void;
  close(): Promise<void>;
}

/** One whole packet from the front of `buf`, or undefined while it is incomplete. */
function nextFrame(buf: Buffer): Buffer | undefined {
  let len = 0;
  let mul = 1;
  for (let i = 1; i < Math.min(buf.length, 5); i++) {
    const b = buf[i] as number;
    len += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return buf.length >= i + 1 + len ? buf.subarray(0, i + 1 + len) : undefined;
  }
  return undefined;
}

export async function startHoldProxy(brokerUrl: string, holdType: number): Promise<HoldProxy> {
  const to = new URL(brokerUrl);
  if (to.protocol !== 'mqtt:') throw new Error(`the hold proxy frames plain MQTT only, not ${to.protocol}`);
  const sockets = new Set<Socket>();
  const held: { client: Socket; frame: Buffer }[] = [];
  const toClient: number[] = [];
  let holding = true;
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: to.hostname, port: Number(to.port) });
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let frame = nextFrame(pending); frame; frame = nextFrame(pending)) {
        pending = pending.subarray(frame.length);
        const type = (frame[0] as number) >> 4;
        if (holding && type === holdType) {
          held.push({ client, frame: Buffer.from(frame) });
          continue;
        }
        toClient.push(type);
        client.write(frame);
      }
    });
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    toClient,
    release() {
      holding = false;
      for (const h of held.splice(0)) {
        toClient.push((h.frame[0] as number) >> 4);
        h.client.write(h.frame);
      }
    },
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
