// Refuse oversized MQTT packets from their fixed header, before their bodies are buffered. The MQTT
// parser aedes uses keeps a packet's bytes until the length its header declares has arrived, with no
// upper bound, so one socket declaring a 200 MiB CONNECT could make the lab hold 200 MiB before any
// login check. This guard reads only the fixed headers as the bytes go by and drops the connection
// the moment a header declares more than the cap.
import type { Socket } from 'node:net';

export interface PacketCaps {
  /** Cap on the first packet (it must be CONNECT). */
  connectMaxBytes: number;
  /** Cap on every later packet, asked at each header so it can depend on who logged in. */
  packetMaxBytes: () => number;
}

/** Watch `socket`'s bytes. Attach after the broker's own reader: with a 'readable' listener present,
 *  Node emits 'data' for exactly the chunks the broker reads, just before it parses them, and the
 *  socket stays in paused mode (this listener never makes it flow on its own). */
export function guardPacketSizes(socket: Socket, caps: PacketCaps, onRefused: (why: string) => void): void {
  let state: 'type' | 'length' | 'body' = 'type';
  let first = true;
  let remaining = 0;
  let value = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let refused = false;

  const refuse = (why: string) => {
    refused = true;
    socket.off('data', onData);
    socket.destroy();
    onRefused(why);
  };

  const onData = (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length && !refused) {
      if (state === 'body') {
        const skip = Math.min(remaining, chunk.length - i);
        i += skip;
        remaining -= skip;
        if (remaining === 0) state = 'type';
      } else if (state === 'type') {
        i++;
        state = 'length';
        value = 0;
        multiplier = 1;
        lengthBytes = 0;
      } else {
        const b = chunk[i++] as number;
        value += (b & 0x7f) * multiplier;
        multiplier *= 128;
        lengthBytes++;
        if (b & 0x80) {
          if (lengthBytes === 4) refuse('malformed remaining length (more than 4 bytes)');
          continue;
        }
        const cap = first ? caps.connectMaxBytes : caps.packetMaxBytes();
        if (value > cap) return refuse(`${first ? 'CONNECT' : 'packet'} of ${value} bytes is over the cap of ${cap}`);
        first = false;
        remaining = value;
        state = remaining > 0 ? 'body' : 'type';
      }
    }
  };
  socket.on('data', onData);
}
