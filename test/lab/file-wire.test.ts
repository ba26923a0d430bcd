// The file server as byte-matching device SDKs see it: raw HTTP/1.1 over a socket, header names in
// the object store's case, port-less URLs on port 80, a host name for URLs, and URLs that stay short.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { isOtaError } from '../../shared/errors.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import type { Agent } from '../../agent/agent.js';
import { testAgent, versionKnown } from '../helpers/agent-fixtures.js';
import { addFirmware, createVerifyJob, deviceStatus, taskReaches } from '../helpers/lab-fixtures.js';

/** Send one raw request and read until the server closes (Connection: close). */
function rawGet(host: string, port: number, path: string, headers: string[] = []): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => {
      socket.write([`GET ${path} HTTP/1.1`, `Host: ${host}`, 'Connection: close', ...headers, '', ''].join('\r\n'));
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

function split(raw: Buffer): { head: string; body: Buffer } {
  const at = raw.indexOf('\r\n\r\n');
  return { head: raw.subarray(0, at + 2).toString('latin1'), body: raw.subarray(at + 4) };
}

/** Path and query of a URL, and where to connect for it. */
function target(url: string): { port: number; path: string } {
  const u = new URL(url);
  return { port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)), path: `${u.pathname}${u.search}` };
}

let lab: Lab;
let content: Buffer;
let url: string;

beforeAll(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off' });
  content = Buffer.alloc(100_000);
  for (let i = 0; i < content.length; i++) content[i] = (i * 13) % 251;
  const stored = await lab.putFirmwareFile('fw.bin', content);
  url = lab.files.signedUrl(stored.url, 600);
});
afterAll(async () => { await lab.close(); });

describe('file server on the wire', () => {
  it('answers HTTP/1.1 with Content-Length and the object store\'s header names, byte for byte', async () => {
    const { port, path } = target(url);
    const { head, body } = split(await rawGet('127.0.0.1', port, path));
    expect(head.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(head).toContain('\r\nContent-Length: 100000\r\n');
    expect(head).toContain('\r\nContent-Type: application/octet-stream\r\n');
    expect(head).toContain('\r\nAccept-Ranges: bytes\r\n');
    expect(head).toContain(`\r\nETag: "${createHash('md5').update(content).digest('hex').toUpperCase()}"\r\n`);
    expect(head).toMatch(/\r\nLast-Modified: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/);
    expect(head.toLowerCase()).not.toContain('transfer-encoding');
    expect(body.equals(content)).toBe(true);
  });

  it('answers a range with 206 and Content-Range, a range past the end with 416, in the same case', async () => {
    const { port, path } = target(url);
    const part = split(await rawGet('127.0.0.1', port, path, ['Range: bytes=10-19']));
    expect(part.head.startsWith('HTTP/1.1 206 Partial Content\r\n')).toBe(true);
    expect(part.head).toContain('\r\nContent-Range: bytes 10-19/100000\r\n');
    expect(part.head).toContain('\r\nContent-Length: 10\r\n');
    expect(part.body.equals(content.subarray(10, 20))).toBe(true);
    const past = split(await rawGet('127.0.0.1', port, path, ['Range: bytes=100000-']));
    expect(past.head.startsWith('HTTP/1.1 416 ')).toBe(true);
    expect(past.head).toContain('\r\nContent-Range: bytes */100000\r\n');
    expect(past.head).toMatch(/\r\nContent-Length: \d+\r\n/);
    const denied = split(await rawGet('127.0.0.1', port, path.replace(/Signature=[^&]+/, 'Signature=AAAA')));
    expect(denied.head.startsWith('HTTP/1.1 403 ')).toBe(true);
    expect(denied.head).toContain('\r\nContent-Type: application/xml\r\n');
    expect(denied.body.toString()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });

  it('writes --file-host into URLs, keeps the port when it is not the default, and refuses names that would make URLs too long', async () => {
    const host = `fw-${'h'.repeat(30)}.lab.example`;
    const named = await startLab({ deviceCount: 1, throttle: 'off', fileHost: host });
    try {
      const port = Number(new URL(named.connection.fileServer).port);
      expect(named.connection.fileServer).toBe(`http://${host}:${port}`);
      const ok = await named.putFirmwareFile('fw-1.0.1.bin', Buffer.from('tiny firmware'));
      const signed = named.files.signedUrl(ok.url, 600);
      expect(signed.startsWith(`http://${host}:${port}/fw/`)).toBe(true);
      // The URL names a host this machine does not resolve; the server answers on its listen address.
      const { head, body } = split(await rawGet('127.0.0.1', port, target(signed).path));
      expect(head.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
      expect(body.toString()).toBe('tiny firmware');
      await expect(named.putFirmwareFile(`${'n'.repeat(120)}.bin`, Buffer.from('x'))).rejects.toThrow(/download URLs up to \d+ characters; devices take at most 250/);
      // The longest name still accepted makes URLs of at most 250 characters, whatever the signature.
      const refusal = await named.putFirmwareFile(`${'n'.repeat(120)}.bin`, Buffer.from('x')).then(() => '', (e: Error) => e.message);
      const room = Number(/at most (\d+) characters\)/.exec(refusal)?.[1]);
      expect(room).toBeGreaterThan(0);
      const longest = await named.putFirmwareFile('n'.repeat(room), Buffer.from('x'));
      for (let ttl = 1; ttl < 40; ttl++) expect(named.files.signedUrl(longest.url, ttl).length).toBeLessThanOrEqual(250);
    } finally {
      await named.close();
    }
    await expect(startLab({ deviceCount: 1, fileHost: `${'h'.repeat(80)}.example` })).rejects.toThrow(/makes download URLs longer than 250 characters/);
  });

  it('on port 80 hands out download URLs without a port, and they download', async () => {
    let lab80: Lab;
    let agent: Agent | undefined;
    try {
      lab80 = await startLab({ deviceCount: 1, throttle: 'off', filePort: 80 });
    } catch (err) {
      // Another program (or another test run on this machine) holds port 80 right now: say so plainly.
      if (isOtaError(err, 'LISTEN_FAILED')) throw new Error(`port 80 is not free on this machine, so this test cannot run now: ${err.message}`);
      throw err;
    }
    try {
      expect(lab80.connection.fileServer).toBe('http://127.0.0.1');
      const stored = await lab80.putFirmwareFile('fw.bin', content);
      const signed = lab80.files.signedUrl(stored.url, 600);
      expect(signed).toMatch(/^http:\/\/127\.0\.0\.1\/fw\//);
      const got = await fetch(signed);
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer()).equals(content)).toBe(true);
      // The project's own agent takes the port-less URL from a notice and verifies the firmware.
      agent = await testAgent(lab80, 'bench-01');
      await deviceStatus(lab80, 'bench-01');
      await versionKnown(lab80, 'bench-01');
      const { firmwareId } = await addFirmware(lab80, { content });
      expect(lab80.store.state.firmware[0]?.firmwareUrl).toMatch(/^http:\/\/127\.0\.0\.1\/fw\//);
      await createVerifyJob(lab80, firmwareId, ['bench-01']);
      await taskReaches(lab80, 'bench-01', 'SUCCEEDED');
    } finally {
      await agent?.close();
      await lab80.close();
    }
  });
});
