// Topic names of docs/platform.md (§ Topics and directions). Every segment is validated: a product key or device name with a
// `/`, `+` or `#` would address someone else's topic or a wildcard.
import { OtaError, quote } from './errors.js';

export interface DeviceId {
  productKey: string;
  deviceName: string;
}

export type DeviceTopicKind =
  | 'inform'
  | 'upgrade'
  | 'progress'
  | 'firmwareGet'
  | 'firmwareGetReply'
  | 'fileDownload'
  | 'fileDownloadReply';

const SEGMENT = /^[^/+#\s]{1,64}$/;

export function checkSegment(name: string, value: string): string {
  if (typeof value !== 'string' || !SEGMENT.test(value)) {
    throw new OtaError('INVALID_TOPIC_SEGMENT', `${name} ${quote(value)} cannot be used in a topic`, {
      expected: '1–64 characters without "/", "+", "#" or white space',
      found: quote(value),
      details: { field: name },
    });
  }
  return value;
}

export function deviceTopic(kind: DeviceTopicKind, id: DeviceId): string {
  const pk = checkSegment('productKey', id.productKey);
  const dn = checkSegment('deviceName', id.deviceName);
  switch (kind) {
    case 'inform': return `/ota/device/inform/${pk}/${dn}`;
    case 'upgrade': return `/ota/device/upgrade/${pk}/${dn}`;
    case 'progress': return `/ota/device/progress/${pk}/${dn}`;
    case 'firmwareGet': return `/sys/${pk}/${dn}/thing/ota/firmware/get`;
    case 'firmwareGetReply': return `/sys/${pk}/${dn}/thing/ota/firmware/get_reply`;
    case 'fileDownload': return `/sys/${pk}/${dn}/thing/file/download`;
    case 'fileDownloadReply': return `/sys/${pk}/${dn}/thing/file/download_reply`;
  }
}

/** Every uplink topic of every device, as MQTT wildcards, for the platform side to subscribe. */
export const UPLINK_WILDCARDS: readonly string[] = Object.freeze([
  '/ota/device/inform/+/+',
  '/ota/device/progress/+/+',
  '/sys/+/+/thing/ota/firmware/get',
  // thing.event.property.post and thing.event.<id>.post, which the platform answers with `…_reply`.
  '/sys/+/+/thing/event/+/post',
]);

export interface ParsedTopic extends DeviceId {
  kind: DeviceTopicKind;
}

/** Recognise a device topic; `undefined` for anything else. */
export function parseDeviceTopic(topic: string): ParsedTopic | undefined {
  const p = topic.split('/');
  if (p.length === 6 && p[0] === '' && p[1] === 'ota' && p[2] === 'device') {
    const kind = ({ inform: 'inform', upgrade: 'upgrade', progress: 'progress' } as const)[p[3] as 'inform'];
    if (kind && p[4] && p[5]) return { kind, productKey: p[4], deviceName: p[5] };
    return undefined;
  }
  if (p[0] === '' && p[1] === 'sys' && p[2] && p[3] && p[4] === 'thing') {
    const rest = p.slice(5).join('/');
    const kind = ({
      'ota/firmware/get': 'firmwareGet',
      'ota/firmware/get_reply': 'firmwareGetReply',
      'file/download': 'fileDownload',
      'file/download_reply': 'fileDownloadReply',
    } as const)[rest as 'ota/firmware/get'];
    if (kind) return { kind, productKey: p[2], deviceName: p[3] };
  }
  return undefined;
}

/** Who publishes on a topic: the device (`up`), the platform (`down`), or either (custom topics,
 *  whose direction each product sets; custom-topic RRPC, request and answer on one topic). */
export type TopicDirection = 'up' | 'down' | 'both';

/**
 * Every topic of one device and its direction, from the platform's topic documentation (topic
 * categories: basic communication, thing-model communication, custom topics; and the list of topics
 * the platform subscribes devices to itself). `{pk}` and `{dn}` are the owner, `*` one level, `**`
 * one or more. First match wins: requests the platform starts (service calls, raw down data, config
 * push, topology change, disable/enable/delete) come down and their `_reply` goes up; everything
 * else under `thing/` goes up and its `_reply` comes down.
 */
export const DEVICE_TOPIC_RULES: readonly { readonly pattern: string; readonly direction: TopicDirection }[] = Object.freeze([
  { pattern: '/ota/device/inform/{pk}/{dn}', direction: 'up' },
  { pattern: '/ota/device/progress/{pk}/{dn}', direction: 'up' },
  { pattern: '/ota/device/request/{pk}/{dn}', direction: 'up' },
  { pattern: '/ota/device/upgrade/{pk}/{dn}', direction: 'down' },
  { pattern: '/sys/{pk}/{dn}/thing/service/**_reply', direction: 'up' },
  { pattern: '/sys/{pk}/{dn}/thing/service/**', direction: 'down' },
  { pattern: '/sys/{pk}/{dn}/thing/{down}_reply', direction: 'up' },
  { pattern: '/sys/{pk}/{dn}/thing/{down}', direction: 'down' },
  { pattern: '/sys/{pk}/{dn}/thing/**_reply', direction: 'down' },
  { pattern: '/sys/{pk}/{dn}/thing/**', direction: 'up' },
  { pattern: '/sys/{pk}/{dn}/rrpc/request/*', direction: 'down' },
  { pattern: '/sys/{pk}/{dn}/rrpc/response/*', direction: 'up' },
  { pattern: '/ext/rrpc/*/{pk}/{dn}/user/**', direction: 'both' },
  { pattern: '/ext/ntp/{pk}/{dn}/request', direction: 'up' },
  { pattern: '/ext/ntp/{pk}/{dn}/response', direction: 'down' },
  { pattern: '/ext/session/{pk}/{dn}/combine/**_reply', direction: 'down' },
  { pattern: '/ext/session/{pk}/{dn}/combine/**', direction: 'up' },
  { pattern: '/ext/error/{pk}/{dn}', direction: 'down' },
  { pattern: '/shadow/update/{pk}/{dn}', direction: 'up' },
  { pattern: '/shadow/get/{pk}/{dn}', direction: 'down' },
  { pattern: '/{pk}/{dn}/user/**', direction: 'both' },
  { pattern: '/broadcast/{pk}/**', direction: 'down' },
] as const);

/** Requests under `thing/` that the platform starts (see DEVICE_TOPIC_RULES). */
const PLATFORM_STARTED = '(?:model/down_raw|config/push|topo/change|disable|enable|delete)';

const COMPILED = DEVICE_TOPIC_RULES.map((r) => {
  const source = r.pattern
    .replace(/[.]/g, '\\.')
    .replace('{pk}', '(?<pk>[^/]+)').replace('{dn}', '(?<dn>[^/]+)').replace('{down}', PLATFORM_STARTED)
    .replace('**', '.+').replace('*', '[^/]+');
  return { re: new RegExp(`^${source}$`), direction: r.direction };
});

export interface TopicOwner {
  productKey: string;
  /** Absent for product-wide topics (broadcast). */
  deviceName?: string;
  direction: TopicDirection;
}

/** The device (or product) a topic belongs to and its direction; undefined when it is no device's topic. */
export function topicOwner(topic: string): TopicOwner | undefined {
  if (topic.length > 1024) return undefined;
  for (const { re, direction } of COMPILED) {
    const m = re.exec(topic);
    if (m?.groups?.pk) return { productKey: m.groups.pk, ...(m.groups.dn ? { deviceName: m.groups.dn } : {}), direction };
  }
  return undefined;
}

function owns(device: DeviceId, owner: TopicOwner | undefined, directions: readonly TopicDirection[]): boolean {
  return !!owner && owner.productKey === device.productKey && (owner.deviceName === undefined || owner.deviceName === device.deviceName) && directions.includes(owner.direction);
}

/** May `device` publish on `topic`? Its own uplink topics only (product-wide topics are never uplink). */
export function mayPublish(device: DeviceId, topic: string): boolean {
  const owner = topicOwner(topic);
  return owner?.deviceName !== undefined && owns(device, owner, ['up', 'both']);
}

/**
 * May `device` subscribe to `filter`? Its own downlink topics, with wildcards allowed below its own
 * name only. A wildcard level is tried as itself and, at the end, as a reply (`+_reply`): the filter
 * is granted when either reading is one of the device's downlink topics. A wildcard in the product
 * key or device name position reads as an owner that is no device, so it is refused.
 */
export function maySubscribe(device: DeviceId, filter: string): boolean {
  const readings = [filter];
  if (/(^|\/)[+#]$/.test(filter)) readings.push(`${filter}_reply`);
  return readings.some((t) => owns(device, topicOwner(t), ['down', 'both']));
}
