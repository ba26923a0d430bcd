// The file server's answers: the object store's XML error envelope, the admin API's JSON, and a
// bounded body reader. Header names go out in the object store's canonical case because some device
// SDKs match them byte for byte (`Content-Length: `), not case-insensitively as HTTP allows.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An object-store error: `<Error><Code>…</Code><Message>…</Message></Error>`. */
export function ossError(res: ServerResponse, status: number, code: string, message: string, extra: Record<string, string> = {}): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>\n`;
  res.writeHead(status, { ...extra, 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The whole request body, refused once it passes `maxBytes` (nothing past the limit is kept). */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new Error(`body over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
