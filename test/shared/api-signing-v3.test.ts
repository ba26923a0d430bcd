// V3 signing (ACS3-HMAC-SHA256) checked against the SDK's own signer, @alicloud/openapi-util's
// getAuthorization, which @alicloud/iot20180120 uses for every call.
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { parseV3Authorization, sha256Hex, signV3, type V3Request } from '../../shared/api-signing-v3.js';

const require = createRequire(import.meta.url);
const openApiUtil = (require('@alicloud/openapi-util') as { default: { getAuthorization: (req: object, alg: string, payload: string, id: string, secret: string) => string } }).default;

describe('V3 signature', () => {
  it('matches the SDK signer for a query with characters that need encoding and a form body', () => {
    const body = 'DeviceName=bench-01&Tag.1.Value=a%20b';
    const headers = {
      host: 'iot.cn-shanghai.aliyuncs.com', 'x-acs-action': 'QueryDeviceDetail', 'x-acs-version': '2018-01-20',
      'x-acs-date': '2026-01-02T03:04:05Z', 'x-acs-signature-nonce': 'd410180a5abf7fe235dd9b74aca91fc0',
      'x-acs-content-sha256': sha256Hex(body), 'content-type': 'application/x-www-form-urlencoded',
    };
    const query = { ProductKey: 'a1LabProd01', Note: "sp ace*(x)!'~", RegionId: 'cn-shanghai' };
    const sdk = openApiUtil.getAuthorization({ method: 'POST', pathname: '/', query, headers: { ...headers, 'user-agent': 'x', accept: 'application/json' } },
      'ACS3-HMAC-SHA256', sha256Hex(body), 'LTAIexample', 'secret-example');
    const parsed = parseV3Authorization(sdk);
    expect(parsed?.signedHeaders).toEqual(Object.keys(headers).sort());
    const req: V3Request = { method: 'POST', path: '/', query, bodySha256: sha256Hex(body), headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])) };
    expect(signV3(req, parsed?.signedHeaders ?? [], 'secret-example')).toBe(parsed?.signature);
    expect(signV3(req, parsed?.signedHeaders ?? [], 'other-secret')).not.toBe(parsed?.signature);
  });

  it('parses the Authorization header and refuses other shapes', () => {
    expect(parseV3Authorization('ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=ab12')).toEqual({
      algorithm: 'ACS3-HMAC-SHA256', accessKeyId: 'AK', signedHeaders: ['host', 'x-acs-date'], signature: 'ab12',
    });
    expect(parseV3Authorization('ACS3-HMAC-SHA256 Credential=AK')).toBeUndefined();
    expect(parseV3Authorization('garbage')).toBeUndefined();
  });
});
