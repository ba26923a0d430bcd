// A request refused before its body was read to the end (an over-long parameter, a refused upload):
// the client reads the lab's answer and FIN, and its remaining writes succeed, not EPIPE/ECONNRESET;
// a client that stalls, drips, or sends far more than the lab drops is closed at a bound; lab.close()
// ends a lingering connection at once. Raw sockets, as a client sees them; the injected clock moves
// the time bounds, so nothing here waits real seconds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { ManualClock } from '../../shared/clock.js';
import { LINGER_IDLE_MS, LINGER_MAX_BYTES, LINGER_TOTAL_MS } from '../../lab/lingering-close.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { popClient } from '../helpers/lab-fixtures.js';

let lab: Lab;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off' }, { clock });
});
afterAll(async () => { await lab.close(); });

/** A client socket that records what it reads and how it ends; it never ends its side on its own. */
interface Client {
  socket: Socket;
  received: () => string;
  errors: Error[];
  /** Resolves when the server's FIN arrived (with everything before it). */
  ended: Promise<void>;
  closed: Promise<void>;
  isClosed: () => boolean;
  /** Write and wait for the write's callback; resolves to its error, if any. */
  send: (bytes: string | Buffer) => Promise<Error | undefined>;
}

async function client(url: string, head: string, firstBytes: Buffer): Promise<Client> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true });
  const chunks: Buffer[] = [];
  const errors: Error[] = [];
  let isClosed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', (err) => errors.push(err));
  const ended = new Promise<void>((resolve) => socket.once('end', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => { isClosed = true; resolve(); }));
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const send = (bytes: string | Buffer) => new Promise<Error | undefined>((resolve) => {
    if (socket.destroyed) return resolve(new Error('socket already closed'));
    socket.write(bytes, (err) => resolve(err ?? undefined));
  });
  await send(Buffer.concat([Buffer.from(head), firstBytes]));
  return { socket, received: () => Buffer.concat(chunks).toString('utf8'), errors, ended, closed, isClosed: () => isClosed, send };
}

/** A full round trip to the lab on another connection: the lab's loop has handled what this client
 *  sent before (a reset for it would have come back by now). */
async function barrier(): Promise<void> {
  await (await fetch(`${lab.connection.apiEndpoint}/?Action=Ping`)).text();
}

/** The lab still takes late bytes: two writes with a round trip after each (after the lab's FIN the
 *  client reads nothing more, so a reset for the first write shows only on the second). */
async function expectLingering(c: Client): Promise<void> {
  for (let i = 0; i < 2; i++) {
    expect(await c.send('A')).toBeUndefined();
    await barrier();
  }
  expect(c.errors).toEqual([]);
  expect(c.isClosed()).toBe(false);
}

/** Drip a byte at a time until the lab's close shows (a reset on the write or the socket closing). */
async function dripUntilClosed(c: Client): Promise<void> {
  while (!c.isClosed() && c.errors.length === 0) {
    await c.send('A');
    await barrier();
  }
}

const FIRST_BYTES = 64 * 1024;

/** An unsigned API POST whose first parameter (Action) is far over the limit, `total` bytes of body. */
function apiRequest(total: number): { head: string; first: Buffer; rest: () => Buffer } {
  const body = Buffer.alloc(Math.min(total, FIRST_BYTES), 'A');
  body.write('Action=');
  return {
    head: `POST / HTTP/1.1\r\nHost: lab\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${total}\r\n\r\n`,
    first: body,
    rest: () => Buffer.alloc(total - FIRST_BYTES, 'A'),
  };
}

function headerBlock(response: string): string {
  return response.slice(0, response.indexOf('\r\n\r\n') + 2);
}

describe('the API refusing a body it has not read to the end', () => {
  it('answers 400 with Connection: close and FIN, then takes the rest of the body without a reset', async () => {
    const r = apiRequest(1_000_000);
    const c = await client(lab.connection.apiEndpoint, r.head, r.first);
    await c.ended;
    const response = c.received();
    expect(response).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(headerBlock(response)).toMatch(/\r\nConnection: close\r\n/i);
    const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { Code: string; ErrorMessage: string };
    expect(body.Code).toBe('InvalidParameter');
    expect(body.ErrorMessage).toContain('The parameter "Action" is longer than the');
    // The server's FIN is in; every late write still lands.
    expect(await c.send(r.rest())).toBeUndefined();
    c.socket.end();
    await c.closed;
    expect(c.errors).toEqual([]);
  });

  it('closes a client that stalls after the answer once it has been idle for the bound', async () => {
    const r = apiRequest(1_000_000);
    const c = await client(lab.connection.apiEndpoint, r.head, r.first);
    await c.ended;
    expect(c.received()).toMatch(/^HTTP\/1\.1 400 /);
    await expectLingering(c);
    clock.advance(LINGER_IDLE_MS);
    await dripUntilClosed(c);
    await c.closed;
  });

  it('closes a client that drips a byte per idle period once the overall bound has passed', async () => {
    const r = apiRequest(1_000_000);
    const c = await client(lab.connection.apiEndpoint, r.head, r.first);
    await c.ended;
    // A byte just inside every idle period keeps it open...
    let elapsedMs = 0;
    while (elapsedMs + LINGER_IDLE_MS - 1 < LINGER_TOTAL_MS) {
      clock.advance(LINGER_IDLE_MS - 1);
      elapsedMs += LINGER_IDLE_MS - 1;
      await barrier();
      await expectLingering(c);
    }
    // ...until the overall bound.
    clock.advance(LINGER_TOTAL_MS - elapsedMs);
    await dripUntilClosed(c);
    await c.closed;
  });

  it('closes a client that sends far more than the lab drops, once the cap is passed', async () => {
    const total = 4 * LINGER_MAX_BYTES;
    const r = apiRequest(total);
    const c = await client(lab.connection.apiEndpoint, r.head, r.first);
    await c.ended;
    expect(c.received()).toMatch(/^HTTP\/1\.1 400 /);
    const chunk = Buffer.alloc(1024 * 1024, 'A');
    let sent = FIRST_BYTES;
    while (sent < total && !c.isClosed() && c.errors.length === 0) {
      if (await c.send(chunk)) break;
      sent += chunk.length;
    }
    await c.closed;
    expect(sent).toBeGreaterThan(LINGER_MAX_BYTES);
    expect(sent).toBeLessThan(total);
  });
});

describe('PostObject refusing a file it has not read to the end', () => {
  it('answers 403 with Connection: close at once, then takes the rest of the file without a reset', async () => {
    const g = (await popClient(lab).call<{ Data: { Host: string; Key: string; Policy: string; OSSAccessKeyId: string } }>('GenerateOTAUploadURL', {})).Data;
    const boundary = 'x-linger-boundary';
    const fields = [['key', g.Key], ['policy', g.Policy], ['OSSAccessKeyId', g.OSSAccessKeyId], ['Signature', Buffer.alloc(20, 9).toString('base64')]]
      .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('');
    const fileHead = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="fw.bin"\r\n\r\n`;
    const tail = `\r\n--${boundary}--\r\n`;
    const fileBytes = 2_000_000;
    const total = Buffer.byteLength(fields) + Buffer.byteLength(fileHead) + fileBytes + Buffer.byteLength(tail);
    const head = `POST / HTTP/1.1\r\nHost: lab\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${total}\r\n\r\n`;
    const c = await client(lab.files.base, head, Buffer.concat([Buffer.from(fields + fileHead), Buffer.alloc(FIRST_BYTES, 1)]));
    await c.ended;
    const response = c.received();
    expect(response).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(headerBlock(response)).toMatch(/\r\nConnection: close\r\n/i);
    expect(response).toContain('<Code>AccessDenied</Code>');
    expect(await c.send(Buffer.concat([Buffer.alloc(fileBytes - FIRST_BYTES, 1), Buffer.from(tail)]))).toBeUndefined();
    c.socket.end();
    await c.closed;
    expect(c.errors).toEqual([]);
  });
});

describe('lab.close() while a connection lingers', () => {
  it('returns, ends the connection and leaves no timer behind', async () => {
    const ownClock = new ManualClock(Date.now());
    const own = await startLab({ deviceCount: 1, throttle: 'off' }, { clock: ownClock });
    const r = apiRequest(1_000_000);
    const c = await client(own.connection.apiEndpoint, r.head, r.first);
    await c.ended;
    expect(c.received()).toMatch(/^HTTP\/1\.1 400 /);
    await expectLingering(c);
    await own.close();
    await own.close();
    expect(ownClock.pendingTimers()).toBe(0);
    await dripUntilClosed(c);
    await c.closed;
  });
});
