import { describe, expect, it } from 'vitest';
import { canonicalQuery, checkRpcSignature, percentEncode, rpcTimestamp, signRpc } from '../../shared/api-signing.js';

describe('OpenAPI signing, SignatureVersion 1.0 (docs/platform.md § Request signing V1)', () => {
  const vector = {
    AccessKeyId: 'testid', Action: 'DescribeRegions', Format: 'XML', SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf', SignatureVersion: '1.0', Timestamp: '2016-02-23T12:46:24Z', Version: '2014-05-26',
  };

  it('matches the documented test vector', () => {
    expect(signRpc('GET', vector, 'testsecret')).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    expect(checkRpcSignature('GET', { ...vector, Signature: 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=' }, 'testsecret')).toBe(true);
  });

  it('refuses a changed parameter, method or secret', () => {
    const Signature = signRpc('GET', vector, 'testsecret');
    expect(checkRpcSignature('GET', { ...vector, Signature, Action: 'Other' }, 'testsecret')).toBe(false);
    expect(checkRpcSignature('POST', { ...vector, Signature }, 'testsecret')).toBe(false);
    expect(checkRpcSignature('GET', { ...vector, Signature }, 'testsecreT')).toBe(false);
  });

  it('percent-encodes as RFC 3986: space %20, * %2A, ~ kept', () => {
    expect(percentEncode("a b*c~d!'()")).toBe('a%20b%2Ac~d%21%27%28%29');
    expect(canonicalQuery({ b: '2', a: '1 1' })).toBe('a=1%201&b=2');
    expect(rpcTimestamp(Date.UTC(2016, 1, 23, 12, 46, 24, 123))).toBe('2016-02-23T12:46:24Z');
  });
});
