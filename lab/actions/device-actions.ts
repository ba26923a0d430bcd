// QueryDeviceDetail: online status comes from the broker's presence, the version from inform.
import { apiError } from '../api-error.js';
import { DEVICE_NAME_RULE, PRODUCT_KEY_RULE, type ActionHandler } from './context.js';

export const queryDeviceDetail: ActionHandler = (ctx) => {
  const iotId = ctx.params.optString('IotId', { maxLen: 64 });
  const dev = iotId
    ? ctx.store.state.devices.find((d) => d.iotId === iotId)
    : ctx.engine.device({ productKey: ctx.params.string('ProductKey', PRODUCT_KEY_RULE), deviceName: ctx.params.string('DeviceName', DEVICE_NAME_RULE) });
  if (!dev) throw apiError('iot.device.NotExistedDevice', 'The device does not exist.');
  return {
    Data: {
      IotId: dev.iotId, ProductKey: dev.productKey, DeviceName: dev.deviceName, Status: dev.status,
      FirmwareVersion: dev.moduleVersions.default ?? '', UtcCreate: dev.utcCreate, UtcOnline: dev.utcOnline ?? '',
      Nickname: '', NodeType: 0, Region: 'lab',
    },
  };
};
