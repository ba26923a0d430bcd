// One DeviceName rule (RegisterDevice: 4–32 characters of letters, digits and _ - . : @) in all three
// programs: the agent's config, ota-verify's local checks and the lab's CreateOTAVerifyJob agree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../agent/agent-config.js';
import { startLab, type Lab } from '../../lab/start-lab.js';
import { checkVerifyRequest } from '../../orchestrator/verify-request.js';
import { isOtaError } from '../../shared/errors.js';
import { DEVICE_NAME_RULE } from '../../shared/platform-rules.js';
import { addFirmware, popClient } from '../helpers/lab-fixtures.js';

const TOO_SHORT = 'ab1';
const LONGEST = `b${'x'.repeat(31)}`;
const TOO_LONG = `${LONGEST}y`;
const ODD_BUT_VALID = 'tb_1.a:b@c-d';

function agentRefuses(deviceName: string): string | undefined {
  try {
    parseAgentConfig({ productKey: 'a1AbCdEfGhI', deviceName, deviceSecret: 's', mqttUrl: 'mqtt://127.0.0.1:1883', simulateInstall: true }, 'bench.json');
    return undefined;
  } catch (err) {
    if (!isOtaError(err, 'INVALID_CONFIG')) throw err;
    return `${err.message} | ${err.expected ?? ''}`;
  }
}

function verifyRefuses(deviceName: string): string | undefined {
  try {
    checkVerifyRequest({ productKey: 'a1AbCdEfGhI', firmwareId: 'fw1', devices: [deviceName], tags: [], needPush: true, needConfirm: false, downloadProtocol: 'HTTPS' });
    return undefined;
  } catch (err) {
    if (!isOtaError(err, 'USAGE')) throw err;
    return `${err.message} | ${err.expected ?? ''}`;
  }
}

let lab: Lab;
let firmwareId = '';
beforeAll(async () => {
  lab = await startLab({ deviceCount: 1, throttle: 'off' });
  firmwareId = (await addFirmware(lab)).firmwareId;
});
afterAll(async () => { await lab.close(); });

async function labRefuses(deviceName: string): Promise<string | undefined> {
  try {
    await popClient(lab).call('CreateOTAVerifyJob', { ProductKey: lab.connection.productKey, FirmwareId: firmwareId, TargetDeviceName: [deviceName] });
    return undefined;
  } catch (err) {
    const data = (err as { data?: { Code?: string; ErrorMessage?: string } }).data;
    if (data?.Code === 'InvalidParameter') return data.ErrorMessage ?? 'InvalidParameter';
    // A valid name the lab does not know is refused for existing, not for its form.
    return data?.Code === 'iot.ota.DeviceNotExist' || data?.Code === 'iot.device.NotExistedDevice' ? undefined : String(data?.Code ?? err);
  }
}

describe('DeviceName: 4–32 characters everywhere', () => {
  it.each([TOO_SHORT, TOO_LONG, 'has space', 'slash/name'])('%j is refused by the agent, ota-verify and the lab', async (name) => {
    expect(agentRefuses(name)).toContain('field "deviceName"');
    expect(agentRefuses(name)).toContain(DEVICE_NAME_RULE.describe);
    expect(verifyRefuses(name)).toContain(DEVICE_NAME_RULE.describe);
    expect(await labRefuses(name)).toMatch(/TargetDeviceName\.1/);
  });

  it.each([LONGEST, ODD_BUT_VALID, 'abcd'])('%j is accepted by all three', async (name) => {
    expect(agentRefuses(name)).toBeUndefined();
    expect(verifyRefuses(name)).toBeUndefined();
    expect(await labRefuses(name)).toBeUndefined();
  });
});
