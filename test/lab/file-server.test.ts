// The firmware file server: signed expiring URLs, Range, and each injected fault.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFile } from 'node:fs/promises';
import { ManualClock } from '../../shared/clock.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { addFirmware } from '../helpers/lab-fixtures.js';

interface Got { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; aborted: boolean }

/** GET with node:http so a connection cut mid-body is seen as such (fetch would only throw). */
function get(url: string, headers: Record<string, string> = {}, ca?: Buffer): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(url, { headers, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let aborted = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => { aborted = true; });
      res.on('error', () => { aborted = true; });
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), aborted: aborted || !res.complete }));
    });
    req.on('error', reject);
    req.end();
  });
}

let lab: Lab;
const clock = new ManualClock(Date.now());
let content: Buffer;
let firmwareId: string;
let url: string;

beforeAll(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off', urlTtlSec: 600 }, { clock });
  content = Buffer.alloc(100_000);
  for (let i = 0; i < content.length; i++) content[i] = (i * 7) % 251;
  ({ firmwareId } = await addFirmware(lab, { content }));
  const fw = lab.store.state.firmware[0];
  url = lab.files.signedUrl(fw?.firmwareUrl ?? '', 600);
});
afterAll(async () => { await lab.close(); });

describe('firmware file server', () => {
  it('serves the whole file, and ranges with 206 and Content-Range', async () => {
    const all = await get(url);
    expect(all.status).toBe(200);
    expect(all.headers['content-length']).toBe(String(content.length));
    expect(all.body.equals(content)).toBe(true);
    const mid = await get(url, { range: 'bytes=1000-1999' });
    expect(mid).toMatchObject({ status: 206 });
    expect(mid.headers['content-range']).toBe(`bytes 1000-1999/${content.length}`);
    expect(mid.body.equals(content.subarray(1000, 2000))).toBe(true);
    const open = await get(url, { range: 'bytes=99000-' });
    expect(open.body.equals(content.subarray(99000))).toBe(true);
    const zero = await get(url, { range: 'bytes=0-' });
    expect(zero.status).toBe(206);
    const suffix = await get(url, { range: 'bytes=-10' });
    expect(suffix.body.equals(content.subarray(-10))).toBe(true);
    expect((await get(url, { range: `bytes=${content.length}-` })).status).toBe(416);
  });

  it('refuses a tampered or expired URL with 403', async () => {
    expect((await get(url.replace(/Expires=(\d+)/, (_m, n: string) => `Expires=${Number(n) + 1}`))).status).toBe(403);
    expect((await get(url.replace(/Signature=[^&]+/, 'Signature=AAAA'))).status).toBe(403);
    expect((await get(url.split('?')[0] ?? '')).status).toBe(403);
    const shortLived = lab.files.signedUrl(lab.store.state.firmware[0]?.firmwareUrl ?? '', 5);
    clock.advance(6000);
    const expired = await get(shortLived);
    expect(expired.status).toBe(403);
    expect(expired.body.toString()).toContain('expired');
  });

  it('closes the connection after N bytes, only the first K times', async () => {
    lab.setFault(firmwareId, { closeAfterBytes: 30_000, closeTimes: 1 });
    const cut = await get(url);
    expect(cut.aborted).toBe(true);
    expect(cut.body.length).toBeLessThanOrEqual(30_000);
    expect(cut.body.equals(content.subarray(0, cut.body.length))).toBe(true);
    const whole = await get(url);
    expect(whole.aborted).toBe(false);
    expect(whole.body.equals(content)).toBe(true);
    lab.setFault(firmwareId, undefined);
  });

  it('answers 404 or 500 for the first K requests', async () => {
    lab.setFault(firmwareId, { errorStatus: 500, errorTimes: 2 });
    expect((await get(url)).status).toBe(500);
    expect((await get(url)).status).toBe(500);
    expect((await get(url)).status).toBe(200);
    lab.setFault(firmwareId, { errorStatus: 404 });
    for (let i = 0; i < 3; i++) expect((await get(url)).status).toBe(404);
    lab.setFault(firmwareId, undefined);
  });

  it('flips a byte, and sends more bytes than the file has', async () => {
    lab.setFault(firmwareId, { flipByteAt: 50_000 });
    const flipped = await get(url);
    expect(flipped.body.length).toBe(content.length);
    expect(flipped.body[50_000]).toBe((content[50_000] as number) ^ 0xff);
    expect(flipped.body.subarray(0, 50_000).equals(content.subarray(0, 50_000))).toBe(true);
    // The flip lands at the same file offset when only a range is asked for.
    const ranged = await get(url, { range: 'bytes=49990-50009' });
    expect(ranged.body[10]).toBe((content[50_000] as number) ^ 0xff);
    lab.setFault(firmwareId, { extraBytes: 1000 });
    const more = await get(url);
    expect(more.body.length).toBe(content.length + 1000);
    lab.setFault(firmwareId, undefined);
  });

  it('limits bandwidth (a lower bound on time, which load can only lengthen)', async () => {
    lab.setFault(firmwareId, { bytesPerSec: 100_000 });
    const started = Date.now();
    const r = await get(url, { range: 'bytes=0-49999' });
    expect(r.body.equals(content.subarray(0, 50_000))).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    lab.setFault(firmwareId, undefined);
  });

  it('refuses fault plans and uploads without the admin token, or malformed', async () => {
    const base = lab.connection.fileServer;
    const auth = { authorization: `Bearer ${lab.connection.adminToken}` };
    expect((await fetch(`${base}/admin/objects/x.bin`, { method: 'PUT', body: 'abc' })).status).toBe(401);
    expect((await fetch(`${base}/admin/faults/${firmwareId}`, { method: 'PUT', headers: auth, body: '{"closeAfterBytes":-1}' })).status).toBe(400);
    expect((await fetch(`${base}/admin/faults/${firmwareId}`, { method: 'PUT', headers: auth, body: '{"teleport":1}' })).status).toBe(400);
    expect((await fetch(`${base}/admin/faults/fw-nope`, { method: 'PUT', headers: auth, body: '{}' })).status).toBe(400);
    expect((await fetch(`${base}/admin/objects/..%2Fescape`, { method: 'PUT', headers: auth, body: 'abc' })).status).toBe(400);
    const put = await fetch(`${base}/admin/objects/ok.bin`, { method: 'PUT', headers: auth, body: 'abc' });
    expect(await put.json()).toMatchObject({ size: 3, sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' });
    expect(() => lab.setFault(firmwareId, { closeAfterBytes: -5 })).toThrow(/closeAfterBytes/);
  });
});

describe('TLS with the lab CA', () => {
  it('serves firmware over HTTPS and MQTT over TLS, trusted through the generated CA', async () => {
    const tlsLab = await startLab({ deviceCount: 1, throttle: 'off', tls: true });
    try {
      expect(tlsLab.connection.fileServer).toMatch(/^https:/);
      expect(tlsLab.connection.mqttUrl).toMatch(/^mqtts:/);
      expect(tlsLab.connection.allowInsecureHttp).toBe(false);
      const ca = await readFile(tlsLab.connection.caFile ?? '');
      await addFirmware(tlsLab, { content: Buffer.from('tls firmware') });
      const u = tlsLab.files.signedUrl(tlsLab.store.state.firmware[0]?.firmwareUrl ?? '', 60);
      const r = await get(u, {}, ca);
      expect(r.body.toString()).toBe('tls firmware');
      await expect(get(u)).rejects.toThrow(/certificate/);
    } finally {
      await tlsLab.close();
    }
  });
});
