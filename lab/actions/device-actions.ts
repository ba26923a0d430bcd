// QueryDeviceDetail and BatchQueryDeviceDetail: online status comes from the broker's presence, the
// version from inform. The batch form follows the platform's API reference (docs/platform.md, § OpenAPI): up to
// 100 DeviceName.N of one product, unknown names left out of the answer rather than refused, the rows
// in Data.Data, DeviceSecret included as the platform includes it. Both answer exactly the SDK model's fields.
import { apiError, invalidParameter } from '../api-error.js';
import type { Device } from '../model.js';
import { DEVICE_NAME_RULE, PRODUCT_KEY_RULE } from '../../shared/platform-rules.js';
import { productName, requireProduct, type ActionContext, type ActionHandler } from './context.js';

const BATCH_MAX_DEVICES = 100;

/** The fields QueryDeviceDetail and BatchQueryDeviceDetail rows share. */
function commonDetail(ctx: ActionContext, dev: Device): Record<string, unknown> {
  return {
    IotId: dev.iotId, ProductKey: dev.productKey, ProductName: productName(ctx, dev.productKey), DeviceName: dev.deviceName,
    Status: dev.status, FirmwareVersion: dev.moduleVersions.default ?? '', UtcCreate: dev.utcCreate,
    Nickname: '', NodeType: 0, Region: 'lab',
  };
}

export const queryDeviceDetail: ActionHandler = (ctx) => {
  const iotId = ctx.params.optString('IotId', { maxLen: 64 });
  let dev: Device | undefined;
  if (iotId) {
    dev = ctx.store.find.deviceByIotId(iotId);
  } else {
    const productKey = ctx.params.string('ProductKey', PRODUCT_KEY_RULE);
    const deviceName = ctx.params.string('DeviceName', DEVICE_NAME_RULE);
    // An unknown product is refused as a product, before any device is looked up.
    requireProduct(ctx, productKey);
    dev = ctx.engine.device({ productKey, deviceName });
  }
  if (!dev) throw apiError('iot.device.NotExistedDevice', 'The device does not exist.');
  return { Data: { ...commonDetail(ctx, dev), UtcOnline: dev.utcOnline ?? '' } };
};

export const batchQueryDeviceDetail: ActionHandler = (ctx) => {
  const productKey = ctx.params.string('ProductKey', PRODUCT_KEY_RULE);
  const names = ctx.params.list('DeviceName', BATCH_MAX_DEVICES);
  if (names.length === 0) throw apiError('MissingParameter', 'The input parameter "DeviceName.N" that is mandatory for processing this request is not supplied.', 400);
  names.forEach((n, i) => { if (!DEVICE_NAME_RULE.pattern.test(n)) throw invalidParameter(`DeviceName.${i + 1}`, DEVICE_NAME_RULE.describe, n); });
  requireProduct(ctx, productKey);
  const rows = names.map((deviceName) => ctx.engine.device({ productKey, deviceName })).filter((d): d is Device => d !== undefined);
  return { Data: { Data: rows.map((d) => ({ ...commonDetail(ctx, d), DeviceSecret: d.deviceSecret })) } };
};
