// The platform's answer to a device's thing-model event posts (`thing.event.property.post`,
// `thing.event.<identifier>.post`): the same topic with `_reply`, the same id, `code: 200`. SDKs
// that wait for that reply (the Node device SDK's postProps/postEvent callbacks) are then satisfied.
// The lab keeps no thing model, so every well-formed post is accepted.

const EVENT_POST = /^\/sys\/([^/]+)\/([^/]+)\/thing\/event\/([^/]+)\/post$/;
/** Alink message ids are documented as numeric strings, but the Node device SDK sends
 *  `<guid>|exp-topic|<reply topic>` and matches the echo: any printable id is echoed, bounded. */
const MESSAGE_ID = /^[\x20-\x7e]{1,256}$/;

export interface Reply {
  topic: string;
  payload: Record<string, unknown>;
}

/** The reply to one event post, or undefined when the topic is no event post or the payload has no usable id. */
export function eventPostReply(topic: string, payload: Buffer): Reply | undefined {
  const m = EVENT_POST.exec(topic);
  if (!m) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const id = (body as { id?: unknown } | null)?.id;
  const idText = typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? String(id) : id;
  if (typeof idText !== 'string' || !MESSAGE_ID.test(idText)) return undefined;
  return {
    topic: `${topic}_reply`,
    payload: { code: 200, data: {}, id: idText, message: 'success', method: `thing.event.${m[3] as string}.post`, version: '1.0' },
  };
}
