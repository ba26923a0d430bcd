// The one place that calls the platform's OpenAPI through @alicloud/pop-core and handles its traps
// (docs/platform.md, § pop-core traps): RegionId added, undefined values dropped, POST only (GET errors carry the signed
// URL), `Success !== true` treated as failure, and the error's URL never kept. "The platform said
// no" (PLATFORM_ERROR, with the platform's code) is kept apart from "the transport failed".
// The RPC client alone: the package's index also loads its ROA client and, with it, an XML parser
// (xml2js, xmlbuilder, sax) that no IoT API needs, ~40 ms of every CLI's start.
import RPCClient from '@alicloud/pop-core/lib/rpc.js';
import { OtaError, errorMessage } from './errors.js';

export const IOT_API_VERSION = '2018-01-20';

export interface OpenApiCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

export interface OpenApiClientOptions {
  endpoint: string;
  regionId: string;
  credentials: OpenApiCredentials;
  timeoutMs?: number;
}

export type ApiParams = Readonly<Record<string, unknown>>;
export type ApiResponse = Record<string, unknown>;
/** What the orchestrator's layers (rate limiter, retry) wrap and what tests fake. */
export type ApiCall = (action: string, params: ApiParams) => Promise<ApiResponse>;

interface PopError extends Error { code?: string; data?: Record<string, unknown> }

export function createOpenApiCall(o: OpenApiClientOptions): ApiCall {
  const client = new RPCClient({
    endpoint: o.endpoint, apiVersion: IOT_API_VERSION,
    accessKeyId: o.credentials.accessKeyId, accessKeySecret: o.credentials.accessKeySecret,
    ...(o.credentials.securityToken ? { securityToken: o.credentials.securityToken } : {}),
  });
  const timeout = o.timeoutMs ?? 10_000;
  return async (action, params) => {
    const clean: Record<string, unknown> = { RegionId: o.regionId };
    for (const [k, v] of Object.entries(params)) if (v !== undefined) clean[k] = v;
    let body: ApiResponse;
    try {
      body = await client.request<ApiResponse>(action, clean, { method: 'POST', timeout });
    } catch (err) {
      throw toOtaError(action, err as PopError);
    }
    if (body.Success !== true) throw platformError(action, body);
    return body;
  };
}

function platformError(action: string, body: Record<string, unknown>): OtaError {
  const code = typeof body.Code === 'string' ? body.Code : 'UnknownError';
  const text = [body.ErrorMessage, body.Message].find((x) => typeof x === 'string' && x.length > 0) as string | undefined;
  return new OtaError('PLATFORM_ERROR', `${action} refused: ${code}${text ? `: ${text}` : ''}`, {
    details: { platformCode: code, action, requestId: body.RequestId },
  });
}

function toOtaError(action: string, err: PopError): OtaError {
  if (err.data && typeof err.data === 'object' && typeof err.data.Code === 'string') return platformError(action, err.data);
  // pop-core's own messages may end with ", URL: <signed url>": cut it off before it reaches a log.
  const message = errorMessage(err).replace(/,?\s*URL:.*$/s, '');
  const netCode = err.code ?? '';
  return new OtaError('TRANSPORT_ERROR', `${action} did not reach the platform: ${message}`, {
    details: { action, netCode }, cause: new Error(message),
  });
}
