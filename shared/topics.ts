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

/** Who may publish on a topic of that kind: the device (uplink) or the platform (downlink). */
export const TOPIC_DIRECTION: Readonly<Record<DeviceTopicKind, 'up' | 'down'>> = Object.freeze({
  inform: 'up',
  upgrade: 'down',
  progress: 'up',
  firmwareGet: 'up',
  firmwareGetReply: 'down',
  fileDownload: 'up',
  fileDownloadReply: 'down',
});

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
