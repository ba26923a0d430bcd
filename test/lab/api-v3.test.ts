// The lab's OpenAPI driven by the newer official SDK, @alicloud/iot20180120, unmodified: it signs
// every call with V3 (ACS3-HMAC-SHA256, action and version in x-acs-* headers) and the lab must check
// that signature, its date and its nonce with the platform's codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../shared/clock.js';
import { rpcTimestamp } from '../../shared/api-signing.js';
import { sha256Hex, signV3, type V3Request } from '../../shared/api-signing-v3.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { iotSdk, sdkCall, sdkClient, sdkCodeOf, sdkRpc } from '../helpers/iot-sdk.js';

let lab: Lab;
const PK = 'a1LabProd01';

beforeAll(async () => { lab = await startLab({ deviceCount: 2, throttle: 'off' }); });
afterAll(async () => { await lab.close(); });

/** A V3 request signed here, for what the SDK cannot be made to send (tampering after signing). */
async function rawV3(opts: { query: Record<string, string>; sign?: string[]; tamper?: (q: URLSearchParams, h: Record<string, string>) => void; secret?: string }) {
  const url = new URL(lab.connection.apiEndpoint);
  const headers: Record<string, string> = {
    host: url.host, 'x-acs-action': 'ListOTAFirmware', 'x-acs-version': '2018-01-20', 'x-acs-date': rpcTimestamp(Date.now()),
    'x-acs-signature-nonce': randomUUID(), 'x-acs-content-sha256': sha256Hex(''),
  };
  const signed = opts.sign ?? Object.keys(headers);
  const req: V3Request = {
    method: 'POST', path: '/', query: opts.query, bodySha256: sha256Hex(''),
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
  };
  const signature = signV3(req, signed, opts.secret ?? lab.connection.accessKeySecret);
  const q = new URLSearchParams(opts.query);
  opts.tamper?.(q, headers);
  const res = await fetch(`${lab.connection.apiEndpoint}/?${q.toString()}`, {
    method: 'POST',
    headers: { ...headers, authorization: `ACS3-HMAC-SHA256 Credential=${lab.connection.accessKeyId},SignedHeaders=${[...signed].sort().join(';')},Signature=${signature}` },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('V3 signatures (ACS3-HMAC-SHA256) from @alicloud/iot20180120', () => {
  it('serves a correctly signed call, parameters in the query', async () => {
    const r = await sdkCall(sdkClient(lab), 'queryDeviceDetail', new iotSdk.QueryDeviceDetailRequest({ productKey: PK, deviceName: 'bench-01' }));
    expect(r.statusCode).toBe(200);
    expect(r.body.success).toBe(true);
    expect(r.body.data).toMatchObject({ deviceName: 'bench-01', status: 'UNACTIVE' });
  });

  it('serves parameters sent in a form body, signed through the body hash', async () => {
    const body = await sdkRpc(sdkClient(lab), 'QueryDeviceDetail', { query: { ProductKey: PK }, body: { DeviceName: 'bench-02' } });
    expect(body).toMatchObject({ Success: true, Data: { DeviceName: 'bench-02', ProductKey: PK } });
  });

  it('refuses a wrong secret with SignatureDoesNotMatch and an unknown key with InvalidAccessKeyId.NotFound', async () => {
    const req = new iotSdk.ListOTAFirmwareRequest({ pageSize: 5 });
    expect(await sdkCodeOf(sdkCall(sdkClient(lab, { accessKeySecret: 'wrong' }), 'listOTAFirmware', req))).toBe('SignatureDoesNotMatch');
    expect(await sdkCodeOf(sdkCall(sdkClient(lab, { accessKeyId: 'LTAInobody' }), 'listOTAFirmware', req))).toBe('InvalidAccessKeyId.NotFound');
  });

  it('refuses a date more than 15 minutes off with InvalidTimeStamp.Expired, on either side', async () => {
    const req = new iotSdk.ListOTAFirmwareRequest({ pageSize: 5 });
    for (const offsetMs of [-16 * 60_000, 16 * 60_000]) {
      const stale = sdkClient(lab, { headers: { 'x-acs-date': rpcTimestamp(Date.now() + offsetMs) } });
      expect(await sdkCodeOf(sdkCall(stale, 'listOTAFirmware', req))).toBe('InvalidTimeStamp.Expired');
    }
    // The window is the lab's clock against the date: a lab whose clock runs 20 minutes ahead refuses a fresh call.
    const ahead = await startLab({ deviceCount: 1, throttle: 'off' }, { clock: new ManualClock(Date.now() + 20 * 60_000) });
    try {
      expect(await sdkCodeOf(sdkCall(sdkClient(ahead), 'listOTAFirmware', req))).toBe('InvalidTimeStamp.Expired');
    } finally {
      await ahead.close();
    }
  });

  it('refuses a replayed nonce with SignatureNonceUsed', async () => {
    const same = sdkClient(lab, { headers: { 'x-acs-signature-nonce': randomUUID() } });
    const req = new iotSdk.ListOTAFirmwareRequest({ pageSize: 5 });
    expect((await sdkCall(same, 'listOTAFirmware', req)).body.success).toBe(true);
    expect(await sdkCodeOf(sdkCall(same, 'listOTAFirmware', req))).toBe('SignatureNonceUsed');
  });

  it('refuses a query changed after signing, a header left out of SignedHeaders, and a body that is not the hashed one', async () => {
    expect((await rawV3({ query: { PageSize: '5' } })).body.Success).toBe(true);
    const changed = await rawV3({ query: { PageSize: '5' }, tamper: (q) => q.set('PageSize', '6') });
    expect(changed).toMatchObject({ status: 400, body: { Code: 'SignatureDoesNotMatch', Success: false } });
    const actionSwapped = await rawV3({ query: {}, tamper: (_q, h) => { h['x-acs-action'] = 'QueryOTAJob'; } });
    expect(actionSwapped.body.Code).toBe('SignatureDoesNotMatch');
    const unsignedAction = await rawV3({ query: {}, sign: ['host', 'x-acs-version', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256'] });
    expect(unsignedAction).toMatchObject({ status: 400, body: { Code: 'IncompleteSignature' } });
    expect(String(unsignedAction.body.ErrorMessage)).toContain('x-acs-action');
    const wrongBodyHash = await rawV3({ query: {}, tamper: (_q, h) => { h['x-acs-content-sha256'] = sha256Hex('something else'); } });
    expect(wrongBodyHash.body.Code).toBe('SignatureDoesNotMatch');
    expect(String(wrongBodyHash.body.ErrorMessage)).toContain('x-acs-content-sha256');
  });

  it('names a missing x-acs-* header and a malformed Authorization, never answering 500', async () => {
    const noNonce = await fetch(`${lab.connection.apiEndpoint}/`, {
      method: 'POST',
      headers: { authorization: `ACS3-HMAC-SHA256 Credential=${lab.connection.accessKeyId},SignedHeaders=host,Signature=00`, 'x-acs-action': 'ListOTAFirmware' },
    });
    expect(noNonce.status).toBe(400);
    expect(await noNonce.json()).toMatchObject({ Code: 'MissingParameter' });
    const garbled = await fetch(`${lab.connection.apiEndpoint}/`, { method: 'POST', headers: { authorization: 'ACS3-HMAC-SHA256 nonsense' } });
    expect(garbled.status).toBe(400);
    expect(await garbled.json()).toMatchObject({ Code: 'IncompleteSignature' });
  });
});
