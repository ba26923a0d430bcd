// The same OTA engine over Debian's mosquitto (`ota-lab start --broker mqtt://…`). Device auth is
// then mosquitto's concern; the engine still drives tasks to their end.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { addFirmware, createVerifyJob, popClient, taskReaches, wrapDevice } from '../helpers/lab-fixtures.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';

let broker: Mosquitto;
let lab: Lab;

beforeAll(async () => {
  broker = await startMosquitto();
  lab = await startLab({ deviceCount: 2, throttle: 'off', brokerUrl: broker.url });
});
afterAll(async () => {
  await lab?.close();
  await broker?.stop();
});

describe('lab engine over mosquitto', () => {
  it('drives a verify job to success, the device informing first and then subscribing itself', async () => {
    expect(lab.broker).toBeUndefined();
    expect(lab.connection.mqttUrl).toBe(broker.url);
    const client = await mqtt.connectAsync(broker.url, { clientId: 'bench-01-test', protocolVersion: 4, reconnectPeriod: 0 });
    const d = wrapDevice(client, lab, 'bench-01');
    try {
      await client.subscribeAsync('/ota/device/upgrade/a1LabProd01/bench-01', { qos: 1 });
      await client.subscribeAsync('/sys/a1LabProd01/bench-01/thing/ota/firmware/get_reply', { qos: 1 });
      // Over an external broker there is no presence: the first message marks the device online.
      await d.publish('inform', { id: 1, params: { version: '1.0.0' } });
      await d.publish('firmwareGet', { id: 2, params: {} });
      expect(await d.next('/get_reply')).toMatchObject({ id: 2, data: {} });
      const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
      await createVerifyJob(lab, firmwareId, ['bench-01']);
      const notice = await d.next('/upgrade/a1LabProd01/bench-01');
      expect((notice.data as { version: string }).version).toBe('2.0.0');
      await d.publish('progress', { id: 3, params: { step: '50' } });
      await d.publish('inform', { id: 4, params: { version: '2.0.0' } });
      await taskReaches(lab, 'bench-01', 'SUCCEEDED');
      const fw = await popClient(lab).call<{ FirmwareInfo: { Status: number } }>('QueryOTAFirmware', { FirmwareId: firmwareId });
      expect(fw.FirmwareInfo.Status).toBe(1);
    } finally {
      await client.endAsync(true);
    }
  });
});
