// The file server's admin routes (behind the lab's admin token): store an object, set or clear a
// firmware's fault plan. `ota-lab firmware add` and `ota-lab fault` use them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../shared/errors.js';
import type { FileRouteContext } from './file-routes.js';
import { json, readBody } from './http-replies.js';

/** A fault plan is a handful of numbers; anything bigger is not one. */
const FAULT_PLAN_MAX_BYTES = 64 * 1024;

export async function putObjectRoute(ctx: FileRouteContext, req: IncomingMessage, res: ServerResponse, m: RegExpExecArray): Promise<void> {
  try {
    json(res, 200, await ctx.putObject(m[1] as string, req));
  } catch (err) {
    json(res, 400, { error: errorMessage(err) });
  }
}

export async function faultRoute(ctx: FileRouteContext, req: IncomingMessage, res: ServerResponse, m: RegExpExecArray): Promise<void> {
  let plan: unknown;
  try {
    plan = req.method === 'PUT' ? JSON.parse((await readBody(req, FAULT_PLAN_MAX_BYTES)).toString('utf8')) : undefined;
  } catch (err) {
    return json(res, 400, { error: `fault plan is not JSON: ${errorMessage(err)}` });
  }
  const refused = ctx.setFault(m[1] as string, plan);
  json(res, refused ? 400 : 200, refused ? { error: refused } : { ok: true });
}
