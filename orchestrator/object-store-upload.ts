// The object store's PostObject, as GenerateOTAUploadURL's policy is meant to be used: one
// multipart/form-data POST to the bucket's host with `key`, `policy`, `OSSAccessKeyId`, `Signature`,
// `success_action_status` and the file last (the store ignores fields after the file). Node's own
// FormData encodes the form; the file part streams from a file-backed Blob, so a 1,000 MB firmware
// never sits in memory, and the bytes are counted on their way out for the progress bar.
import type { Clock, TimerHandle } from '../shared/clock.js';
import { OtaError, errorMessage } from '../shared/errors.js';

export interface PostObjectGrant {
  Host: string;
  Key: string;
  Policy: string;
  OSSAccessKeyId: string;
  Signature: string;
}

export interface PostObjectOptions {
  clock: Clock;
  /** No byte moved for this long (sending or waiting for the answer): the upload is abandoned. */
  stallTimeoutMs: number;
  /** Bytes of the form handed to the connection so far (the file's and the form's framing). */
  onProgress?: (sentBytes: number) => void;
  fetch?: typeof fetch;
}

/** The store's answer to a refused upload is at most a few hundred bytes of XML; read no more. */
const ERROR_BODY_MAX_BYTES = 16 * 1024;

export async function postObject(grant: PostObjectGrant, file: Blob, fileName: string, o: PostObjectOptions): Promise<{ etag: string | undefined }> {
  const form = new FormData();
  form.append('key', grant.Key);
  form.append('policy', grant.Policy);
  form.append('OSSAccessKeyId', grant.OSSAccessKeyId);
  form.append('Signature', grant.Signature);
  form.append('success_action_status', '200');
  form.append('file', file, fileName);
  // Encoding through a Response gives Node's own multipart body as a stream, with its boundary.
  const encoded = new Response(form);
  const contentType = encoded.headers.get('content-type') ?? '';
  const abort = new AbortController();
  let stalled = false;
  let timer: TimerHandle | undefined;
  const arm = () => {
    timer?.cancel();
    timer = o.clock.setTimer(o.stallTimeoutMs, () => { stalled = true; abort.abort(); });
  };
  let sent = 0;
  const counted = encoded.body?.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, out) {
      sent += chunk.byteLength;
      arm();
      o.onProgress?.(sent);
      out.enqueue(chunk);
    },
  }));
  const host = safeHost(grant.Host);
  arm();
  try {
    // A streamed body goes out chunked; the store takes Transfer-Encoding: chunked as well as a length.
    const init = { method: 'POST', body: counted, headers: { 'content-type': contentType }, duplex: 'half', signal: abort.signal, redirect: 'error' };
    const res = await (o.fetch ?? fetch)(grant.Host, init as RequestInit);
    if (res.ok) {
      await res.body?.cancel();
      return { etag: res.headers.get('etag') ?? undefined };
    }
    const text = await readCapped(res, ERROR_BODY_MAX_BYTES);
    const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1] ?? `HTTP ${res.status}`;
    const message = /<Message>([^<]{1,300})<\/Message>/.exec(text)?.[1];
    const details = { httpStatus: res.status, storeCode: code, host };
    const said = `the object store at ${host} refused the upload: HTTP ${res.status} ${code}${message ? `: ${message}` : ''}`;
    // 5xx is the store failing (worth another try); 4xx is a refusal of this request.
    throw new OtaError(res.status >= 500 ? 'TRANSPORT_ERROR' : 'REFUSED', said, { details });
  } catch (err) {
    if (err instanceof OtaError) throw err;
    const why = stalled ? `nothing moved for ${Math.round(o.stallTimeoutMs / 1000)} s` : errorMessage(err) + causeOf(err);
    // A certificate the client does not trust will not be trusted on a second try either.
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    const netCode = typeof code === 'string' ? code : '';
    const tlsUntrusted = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(netCode);
    throw new OtaError('TRANSPORT_ERROR', `uploading ${fileName} to ${host} failed: ${why}`, { cause: err, details: { host, sentBytes: sent, netCode, tlsUntrusted } });
  } finally {
    timer?.cancel();
  }
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const reader = (res.body as ReadableStream<Uint8Array> | null)?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      const value = next.value;
      chunks.push(value);
      size += value.byteLength;
      if (size >= maxBytes) break;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}

/** fetch's "fetch failed" hides the reason in `cause` (ECONNREFUSED, a TLS error, …). */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause ? `: ${errorMessage(cause)}` : '';
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the upload host';
  }
}
