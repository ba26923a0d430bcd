// What a file-server route is and what it may use. The routes themselves are listed in one table in
// file-server.ts; a new route is one line there plus its handler in its own domain file.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { FaultState } from './faults.js';
import type { ReadAhead } from './object-serving.js';
import type { ObjectStore } from './object-store.js';
import type { UrlSignerKey } from './url-signing.js';

export interface FileRouteContext {
  store: ObjectStore;
  clock: Clock;
  log: Logger;
  urlKey: UrlSignerKey;
  /** The fault plan of the firmware an object belongs to. */
  faultFor: (objectKey: string) => FaultState | undefined;
  /** Set (or with `undefined`, clear) a firmware's faults; returns an error text when refused. */
  setFault: (firmwareId: string, plan: unknown) => string | undefined;
  /** Store an object under the server's URL rules (name charset, URL length) and return its URL. */
  putObject: (name: string, body: NodeJS.ReadableStream) => Promise<{ key: string; size: number; md5: string; sha256: string; url: string }>;
  /** PostObject (lab/object-upload.ts), when the lab takes uploads. */
  postObject?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Count body and header bytes of an object download. */
  countServed: (bytes: number) => void;
  /** Downloads in flight and the read-ahead each may hold. */
  readAhead: ReadAhead;
}

export interface FileRoute {
  methods: readonly string[];
  /** Matched against the path alone; the handler gets the captures decoded (a malformed `%` escape
   *  is answered 400 before any handler runs). */
  path: RegExp;
  /** Only with the lab's admin token (`Authorization: Bearer …`). */
  admin?: boolean;
  handle: (ctx: FileRouteContext, req: IncomingMessage, res: ServerResponse, match: RegExpExecArray, url: URL) => Promise<void> | void;
}
