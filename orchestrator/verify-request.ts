// The local checks of a verify request, before any API call (exit 2 on failure): 1-10 unique valid
// device names, a timeout of 1-1440 minutes, at most 10 well-formed tags.
import { OtaError, quote } from '../shared/errors.js';
import { DEVICE_NAME_RULE, LIMITS, TAG_KEY_RULE } from '../shared/platform-rules.js';

export interface VerifyRequest {
  productKey: string;
  firmwareId: string;
  devices: string[];
  timeoutMinutes?: number;
  tags: { Key: string; Value: string }[];
  needPush: boolean;
  needConfirm: boolean;
  downloadProtocol: 'HTTPS' | 'MQTT';
  iotInstanceId?: string;
}

function usage(message: string, expected: string): OtaError {
  return new OtaError('USAGE', message, { expected });
}

export function checkVerifyRequest(raw: { productKey?: string; firmwareId?: string; devices: string[]; timeoutMinutes?: unknown; tags: string[]; needPush: boolean; needConfirm: boolean; downloadProtocol: string; iotInstanceId?: string }): VerifyRequest {
  if (!raw.productKey) throw usage('no product key', '--product-key PK (or --lab lab.json)');
  if (!raw.firmwareId) throw usage('no firmware id', '--firmware-id FID');
  const devices = raw.devices.flatMap((d) => d.split(',')).map((d) => d.trim()).filter((d) => d.length > 0);
  // verify job: 1 to 10 devices, unique names
  if (devices.length === 0) throw usage('no test devices', 'one to ten --device NAME (or --devices A,B)');
  if (devices.length > LIMITS.verifyJobDevicesMax) throw usage(`${devices.length} devices given; a verify job takes at most ${LIMITS.verifyJobDevicesMax}`, 'one to ten devices');
  const dup = devices.find((d, i) => devices.indexOf(d) !== i);
  if (dup) throw usage(`device ${JSON.stringify(dup)} is named twice`, 'each device once');
  const bad = devices.find((d) => !DEVICE_NAME_RULE.pattern.test(d));
  if (bad !== undefined) throw usage(`device name ${quote(bad)} is not valid`, DEVICE_NAME_RULE.describe);
  let timeoutMinutes: number | undefined;
  if (raw.timeoutMinutes !== undefined) {
    const t = Number(raw.timeoutMinutes);
    const { timeoutMinutesMin: min, timeoutMinutesMax: max } = LIMITS;
    if (!Number.isInteger(t) || t < min || t > max) throw usage(`timeout ${JSON.stringify(raw.timeoutMinutes)} is not valid`, `a whole number of minutes from ${min} to ${max}`);
    timeoutMinutes = t;
  }
  if (raw.tags.length > LIMITS.jobTagsMax) throw usage(`${raw.tags.length} tags given`, `at most ${LIMITS.jobTagsMax} tags`);
  const tags = raw.tags.map((t) => {
    const eq = t.indexOf('=');
    const Key = eq > 0 ? t.slice(0, eq) : '';
    const Value = eq > 0 ? t.slice(eq + 1) : '';
    if (!TAG_KEY_RULE.pattern.test(Key) || Value.length < 1 || Value.length > 1024 || Value.includes('\uFFFD')) throw usage(`tag ${quote(t)} is not valid`, `KEY=VALUE, KEY ${TAG_KEY_RULE.describe}, VALUE 1-1024 characters`);
    return { Key, Value };
  });
  if (new Set(tags.map((t) => t.Key)).size !== tags.length) throw usage('a tag key is given twice', 'unique tag keys');
  const protocol = raw.downloadProtocol.toUpperCase();
  if (protocol !== 'HTTPS' && protocol !== 'MQTT') throw usage(`download protocol ${JSON.stringify(raw.downloadProtocol)}`, 'HTTPS or MQTT');
  return {
    productKey: raw.productKey, firmwareId: raw.firmwareId, devices, tags, needPush: raw.needPush, needConfirm: raw.needConfirm,
    downloadProtocol: protocol, ...(timeoutMinutes !== undefined ? { timeoutMinutes } : {}), ...(raw.iotInstanceId ? { iotInstanceId: raw.iotInstanceId } : {}),
  };
}
