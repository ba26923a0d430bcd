// GenerateOTAUploadURL + PostObject in the lab: the policy it signs, the store's checks and XML
// refusals (status and Code as a client sees them), registration and the purge of unregistered uploads.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { request as httpRequest } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../shared/clock.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { codeOf, popClient } from '../helpers/lab-fixtures.js';

interface Grant { Host: string; Key: string; Policy: string; OSSAccessKeyId: string; Signature: string; FirmwareUrl: string; ObjectStorage: string }

let lab: Lab;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off' }, { clock });
});
afterAll(async () => { await lab.close(); });

async function grant(suffix?: string): Promise<Grant> {
  return (await popClient(lab).call<{ Data: Grant }>('GenerateOTAUploadURL', { FileSuffix: suffix })).Data;
}

async function post(g: Grant, content: Buffer, change: Partial<Record<'key' | 'policy' | 'OSSAccessKeyId' | 'Signature', string>> = {}): Promise<{ status: number; body: string; etag: string | null }> {
  const form = new FormData();
  form.append('key', change.key ?? g.Key);
  form.append('policy', change.policy ?? g.Policy);
  form.append('OSSAccessKeyId', change.OSSAccessKeyId ?? g.OSSAccessKeyId);
  form.append('Signature', change.Signature ?? g.Signature);
  form.append('success_action_status', '200');
  form.append('file', new Blob([content]), 'fw.bin');
  const res = await fetch(g.Host, { method: 'POST', body: form });
  return { status: res.status, body: await res.text(), etag: res.headers.get('etag') };
}

const codeIn = (xml: string) => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];

function getObject(url: string): Promise<{ status: number; body: Buffer }> {
  return fetch(lab.files.signedUrl(url, 600)).then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()) }));
}

describe('GenerateOTAUploadURL', () => {
  it('signs a one-minute policy for exactly one key and at most 1,000 MB', async () => {
    const g = await grant('bin');
    expect(g.ObjectStorage).toBe('OSS');
    expect(g.Key).toMatch(/^up[0-9a-f]{16}\/[0-9a-f]{16}\.bin$/);
    expect(g.Host).toBe(lab.connection.fileServer);
    expect(g.FirmwareUrl).toBe(`${lab.connection.fileServer}/fw/${g.Key}`);
    const doc = JSON.parse(Buffer.from(g.Policy, 'base64').toString()) as { expiration: string; conditions: unknown[] };
    expect(Date.parse(doc.expiration) - clock.now()).toBe(60_000);
    expect(doc.conditions).toContainEqual(['content-length-range', 0, 1048576000]);
    expect(doc.conditions).toContainEqual(['eq', '$key', g.Key]);
  });

  it('refuses a FileSuffix that is not a suffix', async () => {
    expect(await codeOf(popClient(lab).call('GenerateOTAUploadURL', { FileSuffix: '../x' }))).toBe('InvalidParameter');
  });
});

describe('PostObject', () => {
  it('stores the file under the key; CreateOTAFirmware takes its FirmwareUrl and agents can download it', async () => {
    const content = Buffer.alloc(300_000, 7);
    const g = await grant('bin');
    const r = await post(g, content);
    expect(r.status).toBe(200);
    expect(r.etag).toBe(`"${createHash('md5').update(content).digest('hex').toUpperCase()}"`);
    const res = await popClient(lab).call<{ Data: { FirmwareId: string } }>('CreateOTAFirmware', {
      ProductKey: lab.connection.productKey, FirmwareName: 'uploaded-1', DestVersion: '3.0.0', FirmwareUrl: g.FirmwareUrl,
      FirmwareSign: createHash('sha256').update(content).digest('hex'), SignMethod: 'SHA256', FirmwareSize: content.length,
    });
    expect(res.Data.FirmwareId).toBeTruthy();
    const got = await getObject(g.FirmwareUrl);
    expect(got.status).toBe(200);
    expect(got.body.equals(content)).toBe(true);
  });

  it('refuses a wrong signature with 403 AccessDenied and stores nothing', async () => {
    const g = await grant();
    const r = await post(g, Buffer.from('x'), { Signature: Buffer.alloc(20, 1).toString('base64') });
    expect([r.status, codeIn(r.body)]).toEqual([403, 'AccessDenied']);
    expect(r.body).toMatch(/<RequestId>[0-9A-F]+<\/RequestId>/);
    expect((await getObject(g.FirmwareUrl)).status).toBe(404);
  });

  it('refuses a policy whose signature is right for another policy (the policy was edited)', async () => {
    const g = await grant();
    const doc = JSON.parse(Buffer.from(g.Policy, 'base64').toString()) as { expiration: string };
    doc.expiration = new Date(clock.now() + 3_600_000).toISOString();
    const r = await post(g, Buffer.from('x'), { policy: Buffer.from(JSON.stringify(doc)).toString('base64') });
    expect([r.status, codeIn(r.body)]).toEqual([403, 'AccessDenied']);
  });

  it('refuses another key than the policy names with 403 AccessDenied', async () => {
    const g = await grant();
    const other = `${g.Key.split('/')[0]}/other.bin`;
    const r = await post(g, Buffer.from('x'), { key: other });
    expect([r.status, codeIn(r.body)]).toEqual([403, 'AccessDenied']);
    expect(r.body).toContain('Policy Condition failed');
    expect((await getObject(`${lab.connection.fileServer}/fw/${other}`)).status).toBe(404);
  });

  it('refuses an expired policy with 403 AccessDenied', async () => {
    const g = await grant();
    clock.advance(60_001);
    const r = await post(g, Buffer.from('x'));
    expect([r.status, codeIn(r.body)]).toEqual([403, 'AccessDenied']);
    expect(r.body).toContain('Policy expired');
  });

  it('refuses an unknown OSSAccessKeyId with 403 InvalidAccessKeyId', async () => {
    const g = await grant();
    const r = await post(g, Buffer.from('x'), { OSSAccessKeyId: 'LTAInobody' });
    expect([r.status, codeIn(r.body)]).toEqual([403, 'InvalidAccessKeyId']);
  });

  it('refuses a body over 1,000 MB with 400 EntityTooLarge before reading it', async () => {
    const g = await grant();
    const boundary = 'x-lab-test-boundary';
    const head = [['key', g.Key], ['policy', g.Policy], ['OSSAccessKeyId', g.OSSAccessKeyId], ['Signature', g.Signature]]
      .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('');
    const got = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(g.Host, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 1001 * 1024 * 1024 } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }); req.destroy(); });
      });
      req.on('error', reject);
      req.write(`${head}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n`);
    });
    expect([got.status, codeIn(got.body)]).toEqual([400, 'EntityTooLarge']);
  });

  it('refuses a form that is not multipart and a form without a file', async () => {
    const g = await grant();
    const notForm = await fetch(g.Host, { method: 'POST', body: 'key=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect([notForm.status, codeIn(await notForm.text())]).toEqual([400, 'InvalidArgument']);
    const form = new FormData();
    form.append('key', g.Key);
    const noFile = await fetch(g.Host, { method: 'POST', body: form });
    expect([noFile.status, codeIn(await noFile.text())]).toEqual([400, 'InvalidArgument']);
  });

  it('purges uploads never registered after an hour (injected clock), and keeps registered ones', async () => {
    const kept = await grant('bin');
    const dropped = await grant('bin');
    expect((await post(kept, Buffer.from('kept'))).status).toBe(200);
    expect((await post(dropped, Buffer.from('dropped'))).status).toBe(200);
    await popClient(lab).call('CreateOTAFirmware', {
      ProductKey: lab.connection.productKey, FirmwareName: 'kept-1', DestVersion: '3.0.1', FirmwareUrl: kept.FirmwareUrl,
      FirmwareSign: createHash('md5').update('kept').digest('hex'), SignMethod: 'MD5', FirmwareSize: 4,
    });
    clock.advance(59 * 60_000);
    await lab.uploads.purge();
    expect((await getObject(dropped.FirmwareUrl)).status).toBe(200);
    // The lab's own timer purges once the hour has passed.
    clock.advance(6 * 60_000);
    await vi.waitFor(async () => { expect((await getObject(dropped.FirmwareUrl)).status).toBe(404); }, { timeout: 10_000, interval: 50 });
    expect((await getObject(kept.FirmwareUrl)).status).toBe(200);
  });
});

describe('PostObject, a client that goes away mid-file', () => {
  it('leaves no partial file behind and the store keeps taking uploads', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'upload-abort-'));
    const own = await startLab({ deviceCount: 1, throttle: 'off', stateDir }, { clock: new ManualClock(Date.now()) });
    try {
      const g = own.uploads.grant('bin');
      const boundary = 'x-abort-boundary';
      const head = [['key', g.Key], ['policy', g.Policy], ['OSSAccessKeyId', g.OSSAccessKeyId], ['Signature', g.Signature]]
        .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('');
      const req = httpRequest(g.Host, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 50_000_000 } });
      req.on('error', () => undefined);
      req.write(`${head}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n\r\n`);
      req.write(Buffer.alloc(1_000_000, 1));
      const partsNow = async () => (await readdir(join(stateDir, 'objects'), { recursive: true })).filter((f) => f.endsWith('.part'));
      await vi.waitFor(async () => { expect(await partsNow()).toHaveLength(1); }, { timeout: 10_000, interval: 20 });
      req.destroy();
      await vi.waitFor(async () => { expect(await partsNow()).toEqual([]); }, { timeout: 10_000, interval: 20 });
      // Refused while the file still streams in, then the client goes away: the lab must not fall over.
      const refused = own.uploads.grant('bin');
      const status = await new Promise<number>((resolve, reject) => {
        const r2 = httpRequest(refused.Host, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 50_000_000 } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          r2.destroy();
        });
        r2.on('error', () => undefined);
        r2.on('close', () => reject(new Error('closed before an answer')));
        r2.write(head.replace(g.Signature, Buffer.alloc(20, 9).toString('base64')).replace(g.Key, refused.Key).replace(g.Policy, refused.Policy));
        r2.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n\r\n`);
        r2.write(Buffer.alloc(1_000_000, 1));
      });
      expect(status).toBe(403);
      const next = own.uploads.grant('bin');
      const form = new FormData();
      for (const [k, v] of [['key', next.Key], ['policy', next.Policy], ['OSSAccessKeyId', next.OSSAccessKeyId], ['Signature', next.Signature]] as const) form.append(k, v);
      form.append('file', new Blob(['ok']), 'a.bin');
      expect((await fetch(next.Host, { method: 'POST', body: form })).status).toBe(204);
      // A form cut short mid-file (the body ends without its closing boundary): 400, nothing kept.
      const cut = own.uploads.grant('bin');
      const cutHead = [['key', cut.Key], ['policy', cut.Policy], ['OSSAccessKeyId', cut.OSSAccessKeyId], ['Signature', cut.Signature]]
        .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('');
      const res = await fetch(cut.Host, {
        method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        body: Buffer.concat([Buffer.from(`${cutHead}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n\r\n`), Buffer.alloc(500_000, 1)]),
      });
      expect([res.status, /<Code>([^<]*)<\/Code>/.exec(await res.text())?.[1]]).toEqual([400, 'MalformedPOSTRequest']);
      await vi.waitFor(async () => { expect(await partsNow()).toEqual([]); }, { timeout: 10_000, interval: 20 });
      expect((await fetch(own.files.signedUrl(cut.FirmwareUrl, 60))).status).toBe(404);
    } finally {
      await own.close();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
