// The lab's firmware file server: the platform's object store in miniature. Signed, expiring URLs;
// Range requests; per-firmware fault injection; admin routes guarded by the lab's admin token.
// This file holds the server, its URLs and the route table; each route's work lives in its domain.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Clock } from '../shared/clock.js';
import { errorMessage, OtaError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { listenNamed } from '../shared/net-listen.js';
import { faultRoute, putObjectRoute } from './file-admin.js';
import type { FileRoute, FileRouteContext } from './file-routes.js';
import { json, ossError } from './http-replies.js';
import { getObjectRoute, ReadAhead } from './object-serving.js';
import { KEY_PREFIX_CHARS, OBJECT_KEY, ObjectStore, type StoredObject } from './object-store.js';
import { longestSignedUrl, SIGNED_URL_MAX_CHARS, signObjectUrl, type UrlSignerKey } from './url-signing.js';

export interface FileServerOptions {
  host: string;
  port: number;
  /** The host name written in URLs (default: `host`), e.g. this machine's name for benches elsewhere. */
  publicHost?: string;
  tls?: { key: Buffer; cert: Buffer };
  objectsDir: string;
  clock: Clock;
  log: Logger;
  urlKey: UrlSignerKey;
  adminToken: string;
  faultFor: FileRouteContext['faultFor'];
  setFault: FileRouteContext['setFault'];
  /** PostObject (a form POSTed to the bucket's root): lab/object-upload.ts. */
  postObject?: FileRouteContext['postObject'];
}

const OBJECT_PREFIX = '/fw/';

/** Every route the server answers, first match wins. */
const ROUTES: readonly FileRoute[] = [
  { methods: ['GET', 'HEAD'], path: /^\/fw\/([^?]+)$/, handle: getObjectRoute },
  { methods: ['POST'], path: /^\/$/, handle: postObjectRoute },
  { methods: ['PUT'], path: /^\/admin\/objects\/([^/]+)$/, admin: true, handle: putObjectRoute },
  { methods: ['PUT', 'DELETE'], path: /^\/admin\/faults\/([^/]+)$/, admin: true, handle: faultRoute },
];

export class FileServer {
  readonly #o: FileServerOptions;
  readonly #store: ObjectStore;
  readonly #ctx: FileRouteContext;
  #server: Server | undefined;
  #base = '';
  #closing: Promise<void> | undefined;
  /** Bytes sent for object downloads (bodies and their headers), for tests that bound re-downloads. */
  bytesServed = 0;

  constructor(options: FileServerOptions) {
    this.#o = options;
    this.#store = new ObjectStore(options.objectsDir);
    this.#ctx = {
      store: this.#store, clock: options.clock, log: options.log, urlKey: options.urlKey,
      faultFor: options.faultFor, setFault: options.setFault, ...(options.postObject ? { postObject: options.postObject } : {}),
      putObject: async (name, body) => {
        const stored = await this.putObject(name, body);
        return { ...stored, url: this.objectUrl(stored.key) };
      },
      countServed: (bytes) => { this.bytesServed += bytes; },
      readAhead: new ReadAhead(),
    };
  }

  get base(): string {
    return this.#base;
  }

  async listen(): Promise<string> {
    // A host name so long that even a one-letter object's URL would be too long is refused up front.
    const worst = longestSignedUrl(this.#o.urlKey, urlBase('https', this.#o.publicHost ?? this.#o.host, 65535), `${OBJECT_PREFIX}${'x'.repeat(KEY_PREFIX_CHARS + 1)}`);
    if (worst > SIGNED_URL_MAX_CHARS) {
      throw new OtaError('INVALID_OPTION', `the file host name ${JSON.stringify((this.#o.publicHost ?? this.#o.host).slice(0, 120))} makes download URLs longer than ${SIGNED_URL_MAX_CHARS} characters`, {
        expected: `a host name of at most ${Math.max(1, (this.#o.publicHost ?? this.#o.host).length - (worst - SIGNED_URL_MAX_CHARS) - 20)} characters, so object names have room`,
      });
    }
    await this.#store.open();
    const handler = (req: IncomingMessage, res: ServerResponse) => { void this.#handle(req, res); };
    const server = this.#o.tls ? createHttpsServer({ key: this.#o.tls.key, cert: this.#o.tls.cert }, handler) : createHttpServer(handler);
    this.#server = server;
    const port = await listenNamed(server, this.#o.host, this.#o.port, 'firmware file server', '--file-port');
    this.#base = urlBase(this.#o.tls ? 'https' : 'http', this.#o.publicHost ?? this.#o.host, port);
    return this.#base;
  }

  /** The unsigned URL of an object: what CreateOTAFirmware is given as FirmwareUrl. */
  objectUrl(objectKey: string): string {
    return `${this.#base}${OBJECT_PREFIX}${objectKey}`;
  }

  /** The object key of one of the lab's own URLs (whatever host and port it was made with). */
  static objectKeyOf(url: string): string | undefined {
    const m = /^https?:\/\/[^/]+\/fw\/([^/?#]+\/[^/?#]+)$/.exec(url);
    return m && OBJECT_KEY.test(m[1] as string) ? m[1] : undefined;
  }

  /** A signed URL for one of the lab's objects; any other URL is passed through as it is. */
  signedUrl(url: string, ttlSec: number): string {
    const key = FileServer.objectKeyOf(url);
    if (!key) return url;
    return signObjectUrl(this.#o.urlKey, this.#base, `${OBJECT_PREFIX}${key}`, Math.floor(this.#o.clock.now() / 1000) + ttlSec);
  }

  /** Store a file as a new object (used by the admin route and by the lab's own seeding). Names that
   *  would make a signed URL longer than devices can take are refused before anything is stored. */
  async putObject(name: string, body: NodeJS.ReadableStream): Promise<StoredObject> {
    const longest = longestSignedUrl(this.#o.urlKey, this.#base, `${OBJECT_PREFIX}${'x'.repeat(KEY_PREFIX_CHARS)}${name}`);
    if (longest > SIGNED_URL_MAX_CHARS) {
      if (body instanceof Readable) body.resume();
      const room = Math.max(0, name.length - (longest - SIGNED_URL_MAX_CHARS));
      throw new Error(`object name of ${name.length} characters would make download URLs up to ${longest} characters; devices take at most ${SIGNED_URL_MAX_CHARS} (use a name of at most ${room} characters)`);
    }
    return this.#store.put(name, body);
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://lab');
      const found = route(req.method ?? '', url.pathname);
      if (!found) {
        if (url.pathname.startsWith('/admin/')) return json(res, 404, { error: 'unknown admin endpoint; PUT /admin/objects/<name> or PUT|DELETE /admin/faults/<firmwareId>' });
        return ossError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      }
      if (found.route.admin && !this.#isAdmin(req)) return json(res, 401, { error: 'admin token missing or wrong' });
      const decoded = decodeCaptures(found.match);
      if (!decoded) return ossError(res, 400, 'InvalidURI', 'The path has a malformed %-escape.');
      await found.route.handle(this.#ctx, req, res, decoded, url);
    } catch (err) {
      this.#o.log.warn({ err: errorMessage(err) }, 'file server request failed');
      if (!res.headersSent) ossError(res, 500, 'InternalError', 'internal error');
      else res.destroy();
    }
  }

  #isAdmin(req: IncomingMessage): boolean {
    const auth = Buffer.from(req.headers.authorization ?? '');
    const want = Buffer.from(`Bearer ${this.#o.adminToken}`);
    return auth.length === want.length && timingSafeEqual(auth, want);
  }
}

function route(method: string, path: string): { route: FileRoute; match: RegExpExecArray } | undefined {
  for (const r of ROUTES) {
    const match = r.path.exec(path);
    if (match && r.methods.includes(method)) return { route: r, match };
  }
  return undefined;
}

/** PostObject: a form POSTed to the bucket's root, as the object store takes uploads. */
async function postObjectRoute(ctx: FileRouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!ctx.postObject) return ossError(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
  await ctx.postObject(req, res);
}

function decodeCaptures(m: RegExpExecArray): RegExpExecArray | undefined {
  try {
    const out = [...m].map((s) => (s === undefined ? s : decodeURIComponent(s))) as unknown as RegExpExecArray;
    return Object.assign(out, { index: m.index, input: m.input });
  } catch {
    return undefined;
  }
}

/** `scheme://host[:port]`, the port left out when it is the scheme's default (as the platform's URLs
 *  are: some device SDKs take everything between `//` and the first `/` as the host name). */
export function urlBase(scheme: 'http' | 'https', host: string, port: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  const isDefault = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
  return `${scheme}://${h}${isDefault ? '' : `:${port}`}`;
}
