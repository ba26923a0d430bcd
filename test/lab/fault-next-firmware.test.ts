// `setFaultOnNextFirmware`: the demo injects its fault before ota-verify has registered the firmware;
// the plan binds to the first firmware downloaded afterwards, before its first byte leaves.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { addFirmware, connectDevice, createVerifyJob, type TestDevice } from '../helpers/lab-fixtures.js';

let lab: Lab;
let device: TestDevice | undefined;
beforeEach(async () => { lab = await startLab({ deviceCount: 1, throttle: 'off' }); });
afterEach(async () => {
  await device?.client.endAsync(true);
  await lab.close();
});

describe('a fault for the next firmware', () => {
  it('applies to a firmware registered after it was set, once, and refuses a bad plan', async () => {
    expect(() => lab.setFaultOnNextFirmware({ errorStatus: 99 })).toThrow(/fault plan/);
    lab.setFaultOnNextFirmware({ errorStatus: 404, errorTimes: 1 });
    device = await connectDevice(lab, 'bench-01');
    await device.publish('inform', { id: 1, params: { version: '1.0.0' } });
    const { firmwareId } = await addFirmware(lab, { version: '2.0.0' });
    await createVerifyJob(lab, firmwareId, ['bench-01']);
    const notice = await device.next('/ota/device/upgrade/a1LabProd01/bench-01') as { data: { url: string } };
    expect((await fetch(notice.data.url)).status).toBe(404);
    expect((await fetch(notice.data.url)).status).toBe(200);
  });
});
