// The newer official API SDK, `@alicloud/iot20180120` over `@alicloud/openapi-client`, unmodified: it
// signs with V3 (ACS3-HMAC-SHA256) and casts each answer into its own response model classes.
// Both packages are CommonJS whose `default` export is the client class, so they are loaded through
// `createRequire` to get the same objects a CommonJS user gets.
import { createRequire } from 'node:module';
import type * as IotSdk from '@alicloud/iot20180120';
import type * as OpenApiClient from '@alicloud/openapi-client';
import type { Lab } from '../../lab/start-lab.js';

const require = createRequire(import.meta.url);
export const iotSdk = require('@alicloud/iot20180120') as typeof IotSdk;
export const openApi = require('@alicloud/openapi-client') as typeof OpenApiClient;
const teaUtil = require('@alicloud/tea-util') as { RuntimeOptions: new (o: object) => unknown };

/** A generic RPC call through the SDK's own signer, with parameters in the query and/or a form body. */
export async function sdkRpc(c: SdkClient, action: string, parts: { query?: Record<string, string>; body?: Record<string, string> }): Promise<Record<string, unknown>> {
  const params = new openApi.Params({
    action, version: '2018-01-20', protocol: 'HTTPS', pathname: '/', method: 'POST', authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
  const req = new openApi.OpenApiRequest({ ...(parts.query ? { query: parts.query } : {}), ...(parts.body ? { body: parts.body } : {}) });
  const res = (await (c.client as unknown as GenericCaller).callApi(params, req, new teaUtil.RuntimeOptions({}))) as { body: Record<string, unknown> };
  return res.body;
}

/** The SDK's client; its declared types do not resolve under NodeNext, so calls go through `sdkCall`. */
export type IotClient = object;
const IotClientClass = iotSdk.default as unknown as new (config: unknown) => IotClient;

/** The generic entry every generated method goes through (typed here: its declared types do not resolve under NodeNext). */
interface GenericCaller { callApi(params: unknown, request: unknown, runtime: unknown): Promise<unknown> }

/** A tea error as the SDK throws it: `code` is the platform's Code, `data` the answer's body. */
export type TeaError = Error & { code?: string; statusCode?: number; data?: Record<string, unknown> };

export interface SdkClient {
  client: IotClient;
  /** The raw JSON body of the latest answer, before the SDK cast it into its model. */
  lastBody(): Record<string, unknown> | undefined;
}

/** `headers` go out on every call (the SDK's own globalParameters), e.g. a fixed nonce or date. */
export function sdkClient(lab: Lab, overrides: { accessKeyId?: string; accessKeySecret?: string; headers?: Record<string, string> } = {}): SdkClient {
  const c = lab.connection;
  const url = new URL(c.apiEndpoint);
  const client = new IotClientClass(new openApi.Config({
    accessKeyId: overrides.accessKeyId ?? c.accessKeyId, accessKeySecret: overrides.accessKeySecret ?? c.accessKeySecret,
    endpoint: url.host, protocol: 'http', regionId: c.regionId, readTimeout: 20_000, connectTimeout: 20_000,
    ...(overrides.headers ? { globalParameters: new openApi.GlobalParameters({ headers: overrides.headers }) } : {}),
  }));
  // Keep the body the SDK received: its cast drops fields its model lacks, and the shape test must see them.
  let body: Record<string, unknown> | undefined;
  const generic = client as unknown as GenericCaller;
  const callApi = generic.callApi.bind(client);
  generic.callApi = async (...args) => {
    const res = (await callApi(...args)) as { body?: Record<string, unknown> };
    body = res.body;
    return res;
  };
  return { client, lastBody: () => body };
}

/** What a generated method returns: the status and the body cast into the SDK's model (camelCase). */
export interface SdkAnswer { statusCode: number; body: { success?: boolean; requestId?: string; data?: Record<string, unknown>; [field: string]: unknown } }

/** Call one generated method of the SDK by name (`queryDeviceDetail`, …) with its Request model. */
export async function sdkCall(c: SdkClient, method: string, request: object): Promise<SdkAnswer> {
  const fn = (c.client as unknown as Record<string, (r: object) => Promise<SdkAnswer>>)[method];
  if (typeof fn !== 'function') throw new Error(`the SDK has no method ${method}`);
  return fn.call(c.client, request);
}

/** The platform Code of a refusal: a thrown gateway error (4xx), or a business answer with
 *  Success=false (HTTP 200, which the SDK returns rather than throws). Throws if the call succeeded. */
export async function sdkCodeOf(p: Promise<unknown>): Promise<string> {
  let answer: unknown;
  try {
    answer = await p;
  } catch (err) {
    const e = err as TeaError;
    const code = e.data?.Code;
    return typeof code === 'string' ? code : e.code ?? `non-platform error: ${e.message}`;
  }
  const body = (answer as SdkAnswer | undefined)?.body;
  if (body?.success === false && typeof body.code === 'string') return body.code;
  throw new Error('expected the call to fail');
}
