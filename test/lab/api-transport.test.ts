// What a caller sees when the request never becomes an API call: unparsable HTTP, headers over
// Node's limit, a target that is no URL, a caller that goes away mid-body, and unsigned bulk.
// Raw sockets, so the exact status line, header bytes and body are read as sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { createLogger } from '../../shared/logger.js';
import { startLab, type Lab } from '../../lab/start-lab.js';

let lab: Lab;
const lines: { level: number; msg: string }[] = [];
let lineWaiters: (() => void)[] = [];

beforeAll(async () => {
  const log = createLogger({
    name: 'lab-under-test', level: 'debug',
    destination: { write(line: string) { lines.push(JSON.parse(line) as { level: number; msg: string }); for (const w of lineWaiters) w(); } },
  });
  lab = await startLab({ deviceCount: 1, throttle: 'off' }, { log });
});
afterAll(async () => { await lab.close(); });

/** Write raw bytes, read until the server closes (or `endAfter` ms of quiet is never used: servers here close). */
function raw(bytes: string | Buffer): Promise<string> {
  const url = new URL(lab.connection.apiEndpoint);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function envelopeOf(response: string): Record<string, unknown> {
  return JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

describe('transport errors answer in the platform envelope', () => {
  it('answers an unparsable request with 400 and a JSON envelope', async () => {
    const res = await raw('NOT A REQUEST\r\n\r\n');
    expect(res.startsWith('HTTP/1.1 400 Bad Request\r\n')).toBe(true);
    expect(res).toContain('\r\nContent-Type: application/json;charset=utf-8\r\n');
    expect(envelopeOf(res)).toMatchObject({ Success: false, Code: 'InvalidParameter', RequestId: expect.any(String) });
  });

  it('answers headers over the limit with 431 and a JSON envelope', async () => {
    const res = await raw(`GET / HTTP/1.1\r\nHost: lab\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(res.startsWith('HTTP/1.1 431 ')).toBe(true);
    expect(envelopeOf(res)).toMatchObject({ Success: false, Code: 'InvalidParameter', ErrorMessage: expect.stringContaining('headers') });
  });

  it('answers a request target that is not a URL with 400 in the envelope, never 500', async () => {
    const res = await raw('GET http://[not-a-host/ HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n');
    expect(res).toMatch(/^HTTP\/1\.1 400 /);
    expect(envelopeOf(res)).toMatchObject({ Success: false, Code: 'InvalidParameter' });
  });
});

describe('a caller that goes away mid-body', () => {
  it('is logged at debug, not as an unexpected failure at error', async () => {
    const url = new URL(lab.connection.apiEndpoint);
    const before = lines.length;
    const logged = new Promise<void>((resolve) => {
      // Whichever way the lab reports it (the debug line, or the error line this test refuses).
      lineWaiters.push(() => { if (lines.slice(before).some((l) => /closed the connection|failed unexpectedly/.test(l.msg))) resolve(); });
    });
    await new Promise<void>((resolve) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write('POST / HTTP/1.1\r\nHost: lab\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nAction=List', () => {
          socket.destroy();
          resolve();
        });
      });
    });
    await logged;
    lineWaiters = [];
    const after = lines.slice(before);
    expect(after.filter((l) => l.level >= 50)).toEqual([]);
    expect(after.find((l) => l.msg.includes('closed the connection'))?.level).toBe(20);
  });
});

describe('unsigned bulk is refused before it is kept', () => {
  it('refuses a 1 MB Action and a 20 KB parameter value with InvalidParameter, and logs no caller bytes', async () => {
    const before = lab.requests.length;
    const big = await fetch(`${lab.connection.apiEndpoint}/`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `Action=${'A'.repeat(1_000_000)}`,
    });
    expect(big.status).toBe(400);
    const body = (await big.json()) as { Code: string; ErrorMessage: string };
    expect(body.Code).toBe('InvalidParameter');
    expect(body.ErrorMessage).toContain('"Action"');
    expect(body.ErrorMessage.length).toBeLessThan(300);
    const value = await fetch(`${lab.connection.apiEndpoint}/`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `Action=ListOTAFirmware&Udi=${'u'.repeat(20_000)}`,
    });
    expect(value.status).toBe(400);
    expect(((await value.json()) as { ErrorMessage: string }).ErrorMessage).toContain('"Udi"');
    const logged = lab.requests.slice(before);
    expect(logged).toHaveLength(2);
    for (const r of logged) expect(r.action.length).toBeLessThanOrEqual(64);
  });
});
